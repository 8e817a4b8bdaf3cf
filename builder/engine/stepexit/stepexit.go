//go:build linux && cgo

// Package stepexit keeps a build step's last output. It owns one thing:
// the wait, in the process Buildah's chroot isolation runs each RUN step
// from, until that step's output has been read.
//
// Buildah runs a step in three processes of this very binary: the
// "grandparent" (buildah-chroot-runtime) relays the step's stdout and
// stderr from pipes to the build's log, the "parent" (buildah-chroot-exec)
// enters the container and starts the command. When the command exits, the
// parent exits with its status and the grandparent exits at once
// (os.Exit), whether or not its relay goroutine has read the last bytes
// from the pipes: the step's last lines, often the package tool's error
// that the diagnosis reads, were lost about one build in four under load.
//
// A C constructor runs in the parent before the Go runtime starts: it
// forks, lets the child go on as Buildah's parent, waits for it, then waits
// until the pipes behind its stdout and stderr are empty (FIONREAD), that
// is until the grandparent's relay has read everything, and only then
// exits with the child's status. It costs a fork (no exec, no Go runtime)
// and no fixed time. What stays is the time between the relay's read and
// its write, two system calls in a row, against this process's exit and
// the grandparent's wake-up.
//
// Import it for its effect wherever the engine is linked (the engine
// does), so the re-executed binary has it.
package stepexit

/*
#cgo CFLAGS: -Wall
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile pid_t stepexit_child;

static void stepexit_forward(int sig) {
	if (stepexit_child > 0) {
		kill(stepexit_child, sig);
	}
}

// stepexit_unread is how many bytes wait in the pipe behind fd (0 when fd
// is not a pipe: a file or a terminal holds nothing back).
static int stepexit_unread(int fd) {
	int n = 0;
	if (ioctl(fd, FIONREAD, &n) != 0) {
		return 0;
	}
	return n;
}

static void __attribute__((constructor)) stepexit_init(int argc, char **argv, char **envp) {
	if (argc < 1 || argv == NULL || argv[0] == NULL || strcmp(argv[0], "buildah-chroot-exec") != 0) {
		return;
	}
	// Before unshare's constructor has run, it re-executes this
	// process into its namespaces; this constructor runs again then.
	if (getenv("_Containers-unshare") != NULL) {
		return;
	}
	pid_t parent = getpid();
	pid_t child = fork();
	if (child < 0) {
		fprintf(stderr, "Image Builder: warning: cannot keep this step's last lines (fork: %s)\n", strerror(errno));
		return;
	}
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) {
			_exit(1);
		}
		return;
	}
	stepexit_child = child;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = stepexit_forward;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int status = 0;
	while (waitpid(child, &status, 0) < 0) {
		if (errno != EINTR) {
			_exit(1);
		}
	}
	// At most 10 s: a relay that stopped reading must not hold the build.
	struct timespec ms = {0, 1000000};
	for (int i = 0; i < 10000 && (stepexit_unread(1) > 0 || stepexit_unread(2) > 0); i++) {
		nanosleep(&ms, NULL);
	}
	if (WIFEXITED(status)) {
		_exit(WEXITSTATUS(status));
	}
	if (WIFSIGNALED(status)) {
		signal(WTERMSIG(status), SIG_DFL);
		kill(getpid(), WTERMSIG(status));
	}
	_exit(1);
}
*/
import "C"
