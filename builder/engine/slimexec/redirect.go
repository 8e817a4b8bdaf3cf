//go:build linux && cgo

package slimexec

/*
#cgo CFLAGS: -Wall
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// The re-exec commands the helper serves (reexec.Register names in
// Buildah and containers/storage, and the probe).
static const char *slimexec_names[] = {
	"buildah-chroot-runtime", "buildah-chroot-exec", "buildah-copier", "buildah-oci-runtime",
	"buildah-open-in-chroot", "buildah-bind-fd-to-path", "chrootuser-open",
	"storage-untar", "storage-applyLayer", "storage-tar", "storage-mountfrom", "storage-chown-by-maps",
	"imagebuilder-slimexec-probe", NULL,
};

// slimexec_start is field 22 of /proc/<pid>/stat (the process's start
// time), or 0.
static unsigned long long slimexec_start(pid_t pid) {
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		return 0;
	}
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (p == NULL) {
		return 0;
	}
	// After "(comm)": state is field 3; the start time is field 22.
	for (int field = 2; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (p == NULL) {
			return 0;
		}
	}
	return strtoull(p + 1, NULL, 10);
}

// It runs before containers/storage's unshare constructor (a priority
// runs before every constructor without one): a child that unshare would
// copy this whole binary into memory for, and re-execute from that copy,
// becomes the helper first, and the helper's own unshare constructor does
// that with the helper.
static void __attribute__((constructor(101))) slimexec_redirect(int argc, char **argv, char **envp) {
	if (argc < 1 || argv == NULL || argv[0] == NULL) {
		return;
	}
	int listed = 0;
	for (int i = 0; slimexec_names[i] != NULL; i++) {
		if (strcmp(argv[0], slimexec_names[i]) == 0) {
			listed = 1;
			break;
		}
	}
	if (!listed) {
		return;
	}
	pid_t parent = getppid();
	unsigned long long start = slimexec_start(parent);
	if (start == 0) {
		return;
	}
	// Root runs what is there: only if root alone can have put it there.
	struct stat st;
	if (stat("/run/imagebuilder-reexec", &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0) {
		return;
	}
	char path[128];
	snprintf(path, sizeof path, "/run/imagebuilder-reexec/%d-%llu", (int)parent, start);
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0) {
		return;
	}
	execve(path, argv, envp);
	// No helper for this parent: this binary serves the command itself
	// (the parent logged why when it started, see Install).
}
*/
import "C"
