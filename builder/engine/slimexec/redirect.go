//go:build linux && cgo

package slimexec

/*
#cgo CFLAGS: -Wall
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
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

// The ones the small helper serves (its file ends in ".small"); the
// helper serves them too, should the small one be missing (Install puts
// both or neither).
static const char *slimexec_small_names[] = {
	"buildah-copier", "storage-untar", "storage-applyLayer", "storage-tar",
	"imagebuilder-slimexec-probe-small", NULL,
};

// slimexec_listed says whether name is in names.
static int slimexec_listed(const char *name, const char **names) {
	for (int i = 0; names[i] != NULL; i++) {
		if (strcmp(name, names[i]) == 0) {
			return 1;
		}
	}
	return 0;
}

// slimexec_exec execs path if root alone can have put it there.
static void slimexec_exec(const char *path, char **argv, char **envp) {
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0) {
		return;
	}
	execve(path, argv, envp);
}

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

// slimexec_write_all writes n bytes of buf to fd.
static int slimexec_write_all(int fd, const char *buf, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, buf, n);
		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			return -1;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

// slimexec_chrootuser_open is Buildah's "chrootuser-open" re-execution
// (chrootuser.openChrootedFileMain), which Buildah starts three or four
// times for every RUN step to read the image's /etc/passwd and
// /etc/group: chroot into argv[1], then copy each further argument's file
// to standard output; exit status 1 if one cannot be opened. The same
// steps and the same exit statuses as the Go original, without starting
// a Go program (about 1 ms instead of about 28 ms with the helper). Its
// arguments reach it only when the first is not an option, as Go's flag
// parsing, which stops at the first argument that is not one, takes them.
static void slimexec_chrootuser_open(int argc, char **argv) {
	if (argc < 2 || argv[1][0] == '-') {
		return; // the Go original answers (and says what is wrong)
	}
	if (chdir(argv[1]) != 0) {
		fprintf(stderr, "chdir(): %s", strerror(errno));
		_exit(1);
	}
	if (chroot(argv[1]) != 0) {
		fprintf(stderr, "chroot(): %s", strerror(errno));
		_exit(1);
	}
	int status = 0;
	char buf[65536];
	for (int i = 2; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "open(\"%s\"): %s", argv[i], strerror(errno));
			status = 1;
			continue;
		}
		for (;;) {
			ssize_t n = read(fd, buf, sizeof buf);
			if (n < 0 && errno == EINTR) {
				continue;
			}
			if (n < 0) {
				fprintf(stderr, "read(\"%s\"): %s", argv[i], strerror(errno));
				break;
			}
			if (n == 0 || slimexec_write_all(1, buf, (size_t)n) != 0) {
				break;
			}
		}
		close(fd);
	}
	_exit(status);
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
	if (strcmp(argv[0], "chrootuser-open") == 0) {
		slimexec_chrootuser_open(argc, argv);
	}
	int small = slimexec_listed(argv[0], slimexec_small_names);
	if (!small && !slimexec_listed(argv[0], slimexec_names)) {
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
	if (small) {
		snprintf(path, sizeof path, "/run/imagebuilder-reexec/%d-%llu.small", (int)parent, start);
		slimexec_exec(path, argv, envp);
		if (!slimexec_listed(argv[0], slimexec_names)) {
			return;
		}
	}
	snprintf(path, sizeof path, "/run/imagebuilder-reexec/%d-%llu", (int)parent, start);
	slimexec_exec(path, argv, envp);
	// No helper for this parent: this binary serves the command itself
	// (the parent logged why when it started, see Install).
}
*/
import "C"
