package engine

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Steps join their build's control group on request. Before a RUN step
// starts, the process Buildah runs it from (package stepexit) connects to
// the abstract socket "imagebuilder-steps-<pid of this process>" and waits;
// this process finds the build the caller belongs to, moves it into that
// build's group and answers 'y' ('u' for a build without limits, 'n' when
// no build claims it). Abstract sockets need no file and vanish with the
// process, but have no permissions: the caller checks that this process
// (as root) answers, and this process answers only its own steps (callers
// whose grandparent it is) and takes the caller's pid from the kernel
// (SO_PEERCRED), so a caller can only move itself.

// adoptSocketName is the abstract socket's name in Go's notation.
func adoptSocketName() string { return "@imagebuilder-steps-" + strconv.Itoa(os.Getpid()) }

// maxAnswering bounds the requests answered at once.
const maxAnswering = 16

// stepAdopter serves the socket for every engine of this process.
type stepAdopter struct {
	once      sync.Once
	err       error
	mu        sync.Mutex
	builds    map[string]adoptee // by the build's container suffix
	answering chan struct{}
	// adopted counts the steps moved into a group, for tests.
	adopted int
}

// adoptee is one running build: its group (nil without limits) and its
// containers' upperdir options.
type adoptee struct {
	group  *buildCgroup
	uppers func() []string
}

var adopter = &stepAdopter{builds: map[string]adoptee{}, answering: make(chan struct{}, maxAnswering)}

// start listens, once per process; every later call returns the first
// one's error.
func (a *stepAdopter) start() error {
	a.once.Do(func() { a.err = a.listen() })
	return a.err
}

// register makes g (nil: no limits) the group of the steps of the build
// whose containers' names hold suffix; the returned function ends that.
// Every build registers, so a step of a build without limits is told so
// and not warned.
func (a *stepAdopter) register(suffix string, g *buildCgroup, uppers func() []string) (unregister func()) {
	a.mu.Lock()
	a.builds[suffix] = adoptee{group: g, uppers: uppers}
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		delete(a.builds, suffix)
		a.mu.Unlock()
	}
}

func (a *stepAdopter) listen() error {
	l, err := net.Listen("unix", adoptSocketName())
	if err != nil {
		return fmt.Errorf("steps cannot ask for their build's limits: %w", err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			a.answering <- struct{}{}
			go func() {
				defer func() { <-a.answering }()
				a.answer(c.(*net.UnixConn))
			}()
		}
	}()
	return nil
}

// answer moves the caller of c into its build's group and says whether it
// did.
func (a *stepAdopter) answer(c *net.UnixConn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	reply := []byte{'n'}
	if pid, err := peerPID(c); err == nil && grandchild(pid) {
		if b, ok := a.buildOf(pid); !ok {
			// No build of this process claims it.
		} else if b.group == nil {
			reply[0] = 'u'
		} else if b.group.mgr.Apply(pid) == nil {
			reply[0] = 'y'
			a.mu.Lock()
			a.adopted++
			a.mu.Unlock()
		}
	}
	_, _ = c.Write(reply)
}

// grandchild reports whether pid's parent is a child of this process, as
// a step's Buildah parent is (this process, its chroot runtime, it).
func grandchild(pid int) bool {
	parent, err := parentOf(pid)
	if err != nil {
		return false
	}
	grand, err := parentOf(parent)
	return err == nil && grand == os.Getpid()
}

// parentOf is field 4 of /proc/<pid>/stat.
func parentOf(pid int) (int, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// pid (comm) state ppid …; comm may hold spaces and parentheses.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, raw)
	}
	return strconv.Atoi(f[1])
}

// adoptedSteps is how many steps this process has moved into their
// build's group so far.
func adoptedSteps() int {
	adopter.mu.Lock()
	defer adopter.mu.Unlock()
	return adopter.adopted
}

func peerPID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, credErr
	}
	return int(cred.Pid), nil
}

// buildOf is the build whose step pid is about to run.
func (a *stepAdopter) buildOf(pid int) (adoptee, bool) {
	mountinfo, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return adoptee{}, false
	}
	a.mu.Lock()
	builds := make([]adoptee, 0, len(a.builds))
	for _, b := range a.builds {
		builds = append(builds, b)
	}
	a.mu.Unlock()
	for _, b := range builds {
		if stepRootMounted(mountinfo, b.uppers()) {
			return b, true
		}
	}
	return adoptee{}, false
}

// stepRootMounted reports whether mountinfo (a process's
// /proc/<pid>/mountinfo) is that of a step about to run in one of the
// containers whose upperdir options uppers lists: Buildah's chroot runtime
// has mounted the container's root filesystem with /dev bound under it,
// which only the step's own mount namespace has.
func stepRootMounted(mountinfo []byte, uppers []string) bool {
	entries, err := parseMountinfo(bytes.NewReader(mountinfo))
	if err != nil {
		return false
	}
	points := map[string]bool{}
	for _, m := range entries {
		points[m.Point] = true
	}
	for _, m := range entries {
		for _, u := range uppers {
			if strings.Contains(m.Options+",", u) && points[strings.TrimSuffix(m.Point, "/")+"/dev"] {
				return true
			}
		}
	}
	return false
}
