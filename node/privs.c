/* privs.c - capability drop after attach (see privs.h). Raw capget/capset: the
 * three capability sets fit in two 32-bit words each (version 3). */
#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "privs.h"

int privs_drop(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[2] = {0};
	/* CAP_BPF too: kernels before 6.5 refuse every bpf() call, map reads included,
	 * without it when unprivileged BPF is disabled (the default). */
	const unsigned int keep[2] = {CAP_NET_ADMIN, CAP_BPF};

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	/* Keep those only where they were permitted already. */
	for (int i = 0; i < 2; i++) {
		__u32 mask = 0;

		for (int k = 0; k < 2; k++)
			if (keep[k] / 32 == (unsigned int)i)
				mask |= 1u << (keep[k] % 32);

		data[i].permitted &= mask;
		data[i].effective &= mask;
		data[i].inheritable = 0;
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}
