//go:build linux && cgo

// Package stepexit keeps a build step's last output and puts the step
// under its build's limits. It owns what runs, in the process Buildah's
// chroot isolation runs each RUN step from, before the step starts (the
// request to join the build's control group) and after it ends (the wait
// until its output has been read).
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
// and no fixed time. An empty pipe is not yet a written log line: the
// relay reads into a buffer and writes it after it has looked at both
// pipes, and the grandparent exits as soon as this process does, so a
// line read but not written was still lost now and then under load (the
// last-lines test lost one in about ten runs). So the constructor also
// waits until a thread of the grandparent sits in poll(2) again: the
// relay's loop polls only after it has written what it read. Where the
// grandparent's threads cannot be seen (/proc/<pid>/task/*/syscall), the
// empty pipes alone end the wait, and the step's output says so.
//
// The same constructor, before it forks, puts the step under its build's
// limits: when the process that runs the build (this process's
// grandparent) listens on its abstract socket "imagebuilder-steps-<pid>"
// (an engine that may limit its builds does, see the engine's
// limits.go), it connects and waits for the answer: the engine has moved
// it into the build's control group, so the step and everything it starts
// are born there. No socket, or the answer 'u': the build has no limits.
// A refusal, no answer within 10 s or a socket held by any other process
// than the builder puts a warning in the step's output. It costs one
// connection per step and no fixed time.
//
// Import it for its effect wherever the engine is linked (the engine
// does), so the re-executed binary has it.
package stepexit

/*
#cgo CFLAGS: -Wall
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
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

// stepexit_polling says whether a thread of pid is blocked in poll(2) or
// ppoll(2): 1 yes, 0 no, -1 when its threads cannot be seen.
static int stepexit_polling(pid_t pid) {
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (d == NULL) {
		return -1;
	}
	int seen = 0, polling = 0;
	struct dirent *e;
	while (!polling && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.') {
			continue;
		}
		char sys[300], buf[64];
		snprintf(sys, sizeof sys, "/proc/%d/task/%s/syscall", (int)pid, e->d_name);
		FILE *f = fopen(sys, "re");
		if (f == NULL) {
			continue;
		}
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = 0;
		if (n == 0) {
			continue;
		}
		seen = 1;
		long nr = strtol(buf, NULL, 10);
		if (buf[0] >= '0' && buf[0] <= '9') {
#ifdef SYS_poll
			if (nr == SYS_poll) {
				polling = 1;
			}
#endif
			if (nr == SYS_ppoll) {
				polling = 1;
			}
		}
	}
	closedir(d);
	return seen ? polling : -1;
}

// stepexit_parent_of is pid's parent, or -1.
static pid_t stepexit_parent_of(pid_t pid) {
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		return -1;
	}
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	// pid (comm) state ppid …; comm may hold spaces and parentheses.
	char *end = strrchr(buf, ')');
	int ppid = -1;
	if (end == NULL || sscanf(end + 1, " %*c %d", &ppid) != 1) {
		return -1;
	}
	return (pid_t)ppid;
}

// stepexit_join asks the process that runs the build to put this one in
// the build's control group (see the package doc).
static void stepexit_join(void) {
	pid_t builder = stepexit_parent_of(getppid());
	if (builder <= 0) {
		return;
	}
	struct sockaddr_un addr;
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	int n = snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "imagebuilder-steps-%d", (int)builder);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return;
	}
	if (connect(fd, (struct sockaddr *)&addr, len) != 0) {
		close(fd); // nobody listens: the build has no limits
		return;
	}
	// Abstract sockets have no permissions: only the builder itself, as
	// root, may answer.
	struct ucred cred;
	socklen_t credlen = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) != 0 || cred.pid != builder || cred.uid != 0) {
		close(fd);
		fprintf(stderr, "Image Builder: warning: this step runs without the build's limits (another process holds their socket)\n");
		return;
	}
	struct timeval tv = {10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char answer = 0;
	ssize_t got;
	do {
		got = read(fd, &answer, 1);
	} while (got < 0 && errno == EINTR);
	close(fd);
	// 'u': a build without limits.
	if (got == 1 && answer == 'u') {
		return;
	}
	if (got != 1 || answer != 'y') {
		fprintf(stderr, "Image Builder: warning: this step runs without the build's limits\n");
	}
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
	stepexit_join();
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
	pid_t relay = getppid();
	int blind = 0;
	for (int i = 0; i < 10000; i++) {
		if (stepexit_unread(1) == 0 && stepexit_unread(2) == 0) {
			int polling = blind ? 1 : stepexit_polling(relay);
			if (polling == 1) {
				break;
			}
			if (polling < 0) {
				blind = 1; // wait once more for the warning itself
				fprintf(stderr, "Image Builder: warning: this step's last lines may be lost (its relay's threads cannot be seen)\n");
			}
		}
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
