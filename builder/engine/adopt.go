package engine

import (
	"bufio"
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
// build's group and answers 'y' ('n' when no build claims it). Abstract
// sockets need no file and vanish with the process; the caller's pid comes
// from the kernel (SO_PEERCRED), so a caller can only move itself, and only
// a process inside a build's step can be claimed.

// adoptSocketName is the abstract socket's name in Go's notation.
func adoptSocketName() string { return "@imagebuilder-steps-" + strconv.Itoa(os.Getpid()) }

// stepAdopter serves the socket for every engine of this process.
type stepAdopter struct {
	once   sync.Once
	err    error
	mu     sync.Mutex
	builds map[*buildCgroup]func() []string // group → its build's containers' upperdir options
	// adopted counts the steps moved into a group, for tests.
	adopted int
}

var adopter = &stepAdopter{builds: map[*buildCgroup]func() []string{}}

// register makes g the group of the steps whose containers uppers lists;
// the returned function ends that.
func (a *stepAdopter) register(g *buildCgroup, uppers func() []string) (func(), error) {
	a.once.Do(func() { a.err = a.listen() })
	if a.err != nil {
		return nil, a.err
	}
	a.mu.Lock()
	a.builds[g] = uppers
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		delete(a.builds, g)
		a.mu.Unlock()
	}, nil
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
			go a.answer(c.(*net.UnixConn))
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
	if pid, err := peerPID(c); err == nil {
		if g := a.groupOf(pid); g != nil && g.mgr.Apply(pid) == nil {
			reply[0] = 'y'
			a.mu.Lock()
			a.adopted++
			a.mu.Unlock()
		}
	}
	_, _ = c.Write(reply)
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

// groupOf is the group of the build whose step pid is about to run, or nil.
func (a *stepAdopter) groupOf(pid int) *buildCgroup {
	mountinfo, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for g, uppers := range a.builds {
		if stepRootMounted(mountinfo, uppers()) {
			return g
		}
	}
	return nil
}

// stepRootMounted reports whether mountinfo (a process's
// /proc/<pid>/mountinfo) is that of a step about to run in one of the
// containers whose upperdir options uppers lists: Buildah's chroot runtime
// has mounted the container's root filesystem with /dev bound under it,
// which only the step's own mount namespace has.
func stepRootMounted(mountinfo []byte, uppers []string) bool {
	var roots []string
	points := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		point := unescapeMount(f[4])
		points[point] = true
		for _, u := range uppers {
			if strings.Contains(line, u) || strings.HasSuffix(line, strings.TrimSuffix(u, ",")) {
				roots = append(roots, point)
				break
			}
		}
	}
	for _, r := range roots {
		if points[strings.TrimSuffix(r, "/")+"/dev"] {
			return true
		}
	}
	return false
}
