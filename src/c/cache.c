/*
 * cache.c -- the data cache sizes the GEMM blocking follows (dispatch.c).
 *
 * Sources, first that answers: CGRAD_CACHE ("L1D,L2,L3", bytes with an optional K/M/G
 * suffix, L3 meaning this core's share); Linux's sysfs (cpu0's caches, a shared cache
 * divided among the CPUs that share it); sysconf for L1d and L2 (glibc derives its L3
 * from cpuid, which on AMD reports the whole package: not used).  A size left at 0 is
 * unknown, and the blocking keeps its tuned value for it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif
#include "cgrad.h"

/* "32K", "1M", "1048576" -> bytes; -1 if it is not a size. */
static long parse_size(const char *s, char **end)
{
    char *e;
    const long v = strtol(s, &e, 10);
    if (e == s || v <= 0) return -1;
    long scale = 1;
    switch (toupper((unsigned char)*e)) {
    case 'K': scale = 1L << 10; e++; break;
    case 'M': scale = 1L << 20; e++; break;
    case 'G': scale = 1L << 30; e++; break;
    default: break;
    }
    *end = e;
    return v * scale;
}

static int from_env(const char *env, cgrad_caches *out)
{
    long v[3];
    const char *p = env;
    for (int i = 0; i < 3; i++) {
        char *e;
        v[i] = parse_size(p, &e);
        if (v[i] < 0 || *e != (i < 2 ? ',' : '\0')) return -1;
        p = e + 1;
    }
    out->l1d = v[0], out->l2 = v[1], out->l3 = v[2];
    return 0;
}

/* CPUs in a sysfs list such as "0-3,8-11"; 1 if it cannot be read. */
static long count_cpus(const char *list)
{
    long n = 0;
    const char *p = list;
    while (*p && *p != '\n') {
        char *e;
        const long a = strtol(p, &e, 10);
        long b = a;
        if (e == p) break;
        if (*e == '-') b = strtol(e + 1, &e, 10);
        n += b >= a ? b - a + 1 : 1;
        p = *e == ',' ? e + 1 : e;
        if (*e != ',') break;
    }
    return n > 0 ? n : 1;
}

static int read_line(const char *dir, const char *name, char *buf, int size)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    const int ok = fgets(buf, size, f) != NULL;
    fclose(f);
    return ok ? 0 : -1;
}

static int from_sysfs(cgrad_caches *out)
{
    int found = 0;
    for (int i = 0; i < 8; i++) {
        char dir[128], level[16], type[32], size[32], shared[256];
        snprintf(dir, sizeof dir, "/sys/devices/system/cpu/cpu0/cache/index%d", i);
        if (read_line(dir, "level", level, sizeof level) ||
            read_line(dir, "type", type, sizeof type) ||
            read_line(dir, "size", size, sizeof size))
            continue;
        if (strncmp(type, "Instruction", 11) == 0) continue;
        char *e;
        long bytes = parse_size(size, &e);
        if (bytes <= 0) continue;
        if (read_line(dir, "shared_cpu_list", shared, sizeof shared) == 0)
            bytes /= count_cpus(shared);
        const int lv = atoi(level);
        if (lv == 1) out->l1d = bytes;
        else if (lv == 2) out->l2 = bytes;
        else if (lv == 3) out->l3 = bytes;
        else continue;
        found = 1;
    }
    return found ? 0 : -1;
}

static void from_sysconf(cgrad_caches *out)
{
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE)
    const long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (out->l1d == 0 && l1 > 0) out->l1d = l1;
    if (out->l2 == 0 && l2 > 0) out->l2 = l2;
#else
    (void)out;
#endif
}

int cgrad_cache_detect(cgrad_caches *out)
{
    memset(out, 0, sizeof *out);
    const char *env = getenv("CGRAD_CACHE");
    if (env != NULL && env[0] != '\0') {
        if (from_env(env, out) == 0) return CGRAD_CACHE_FROM_ENV;
        memset(out, 0, sizeof *out);
        out->env_error = 1;
    }
    const int sysfs = from_sysfs(out) == 0;
    from_sysconf(out);
    if (sysfs) return CGRAD_CACHE_FROM_SYSFS;
    return out->l1d || out->l2 ? CGRAD_CACHE_FROM_SYSCONF : CGRAD_CACHE_UNKNOWN;
}
