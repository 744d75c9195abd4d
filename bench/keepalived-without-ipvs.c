/*
 * LD_PRELOAD shim of the director benchmark (examples/director_bench.rs), for kernels without
 * IPVS: keepalived's checker process refuses to start there ("IPVS: Can't initialize ipvs").
 * When the IPVS generic-netlink family is absent keepalived falls back to IPVS's socket
 * options; this shim answers those as an empty IPVS would and accepts every change without
 * doing it. keepalived then does all of its checking work and none of the rule work, which in
 * steady state is what a director does (rules change only when health does). Benchmark use
 * only: nothing is forwarded.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/ip_vs.h>

static int is_ipvs_get(int level, int name)
{
	return level == IPPROTO_IP && name >= IP_VS_BASE_CTL && name <= IP_VS_SO_GET_MAX;
}

static int is_ipvs_set(int level, int name)
{
	return level == IPPROTO_IP && name >= IP_VS_BASE_CTL && name <= IP_VS_SO_SET_MAX;
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	static int (*real)(int, int, int, void *, socklen_t *);

	if (is_ipvs_get(level, name) && val && len) {
		if (name == IP_VS_SO_GET_INFO && *len >= sizeof(struct ip_vs_getinfo)) {
			struct ip_vs_getinfo info = { .version = 0x010201, .size = 4096 };

			memcpy(val, &info, sizeof(info));
			*len = sizeof(info);
		} else if (name == IP_VS_SO_GET_VERSION) {
			snprintf(val, *len, "IP Virtual Server version 1.2.1 (size=4096)");
		} else {
			memset(val, 0, *len); /* no services, no destinations */
		}
		return 0;
	}
	if (!real)
		real = (int (*)(int, int, int, void *, socklen_t *))dlsym(RTLD_NEXT, "getsockopt");
	return real(fd, level, name, val, len);
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	static int (*real)(int, int, int, const void *, socklen_t);

	if (is_ipvs_set(level, name))
		return 0;
	if (!real)
		real = (int (*)(int, int, int, const void *, socklen_t))dlsym(RTLD_NEXT, "setsockopt");
	return real(fd, level, name, val, len);
}
