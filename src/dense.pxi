# dense.pxi -- (filled by the kernel work of issues 3-5)
