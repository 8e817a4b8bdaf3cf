// Package cli is the command line's client of the portal's JSON API: the
// spec and job commands (imagebuilder spec apply|list|get|delete, job
// list|logs|cancel|retry) against --server with the token in
// IMAGEBUILDER_TOKEN. It speaks only HTTP to the server and shares the
// API's JSON types with package handlers; it never opens the database.
//
// Exit codes, for scripts: 0 done; 1 any other error; 2 bad usage; 3 the
// spec is invalid; 4 no valid token; 5 not found; 6 the build failed; 7
// the build was cancelled; 8 --wait timed out.
package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"imagebuilder/db"
	"imagebuilder/handlers/apiv1"
)

// Exit codes.
const (
	ExitOK        = 0
	ExitError     = 1
	ExitUsage     = 2
	ExitInvalid   = 3
	ExitAuth      = 4
	ExitNotFound  = 5
	ExitFailed    = 6
	ExitCancelled = 7
	ExitTimeout   = 8
)

// exitError carries an exit code with its message; transient marks a
// server that could not be reached (worth another try while waiting).
type exitError struct {
	code      int
	msg       string
	transient bool
}

func (e *exitError) Error() string { return e.msg }

func exit(code int, format string, args ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

// client calls the API.
type client struct {
	server string
	token  string
	http   *http.Client
	lang   string
}

// apiErr is the API's error body turned into an error with an exit code.
func apiErr(status int, body []byte) error {
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Errors  []struct {
			List    string `json:"list"`
			Line    int    `json:"line"`
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		return exit(ExitError, "the server answered %d: %s", status, strings.TrimSpace(string(body)))
	}
	msg := e.Message
	for _, fe := range e.Errors {
		if fe.Line > 0 {
			msg += fmt.Sprintf("\n  %s line %d: %s [%s]", fe.List, fe.Line, fe.Message, fe.Code)
		} else {
			msg += fmt.Sprintf("\n  %s: %s [%s]", fe.List, fe.Message, fe.Code)
		}
	}
	code := ExitError
	switch status {
	case http.StatusUnprocessableEntity, http.StatusBadRequest:
		code = ExitInvalid
	case http.StatusUnauthorized:
		code = ExitAuth
	case http.StatusNotFound:
		code = ExitNotFound
	}
	return exit(code, "%s", msg)
}

// do sends a request and decodes a JSON answer into out (nil: none).
func (c *client) do(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+"/api/v1"+path, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, &exitError{code: ExitError, msg: fmt.Sprintf("cannot reach %s: %v", c.server, err), transient: true}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, apiErr(resp.StatusCode, raw)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("the server's answer is not the API's JSON: %w", err)
		}
	}
	return resp.StatusCode, nil
}

// Run runs "spec …" or "job …" and returns the exit code.
func Run(ctx context.Context, group string, args []string, stdout, stderr io.Writer) int {
	err := run(ctx, group, args, stdout, stderr)
	var ee *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ee):
		fmt.Fprintln(stderr, "imagebuilder:", ee.msg)
		return ee.code
	}
	fmt.Fprintln(stderr, "imagebuilder:", err)
	return ExitError
}

const usage = `usage:
  imagebuilder spec apply -f SPEC.json|yaml [--wait] [--timeout 30m]
  imagebuilder spec list [-o table|json]
  imagebuilder spec get NAME [-o table|json|yaml]
  imagebuilder spec delete NAME
  imagebuilder job list [--spec NAME] [--status STATUS] [-o table|json]
  imagebuilder job logs ID [--follow]
  imagebuilder job cancel ID
  imagebuilder job retry ID
every command takes --server URL (default $IMAGEBUILDER_SERVER, else http://127.0.0.1:8080);
the token comes from $IMAGEBUILDER_TOKEN (create one on the portal's Account page)`

func run(ctx context.Context, group string, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return exit(ExitUsage, "%s", usage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet(group+" "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", envOr("IMAGEBUILDER_SERVER", "http://127.0.0.1:8080"), "the portal's URL")
	output := fs.String("o", "table", "output: table, json or yaml")
	file := fs.String("f", "", "spec file, JSON or YAML (- for stdin)")
	wait := fs.Bool("wait", false, "wait for the build and exit non-zero when it fails")
	timeout := fs.Duration("timeout", 30*time.Minute, "how long --wait waits")
	follow := fs.Bool("follow", false, "follow the log until the job ends")
	specName := fs.String("spec", "", "only this spec's jobs")
	status := fs.String("status", "", "only jobs in this status")
	// Flags may come after the positional argument (job logs 7 --follow).
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return exit(ExitUsage, "%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	token := os.Getenv("IMAGEBUILDER_TOKEN")
	if token == "" {
		return exit(ExitAuth, "set IMAGEBUILDER_TOKEN to an API token (create one on the portal's Account page)")
	}
	u, err := url.Parse(*server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return exit(ExitUsage, "--server %q: want http(s)://host[:port]", *server)
	}
	c := &client{server: strings.TrimRight(u.String(), "/"), token: token, http: &http.Client{Timeout: 0}, lang: os.Getenv("LANG")}
	c.lang = acceptLanguage(c.lang)
	one := func() (string, error) {
		if len(positional) != 1 {
			return "", exit(ExitUsage, "%s %s takes one argument\n%s", group, sub, usage)
		}
		return positional[0], nil
	}
	switch group + " " + sub {
	case "spec apply":
		return c.apply(ctx, *file, *wait, *timeout, stdout)
	case "spec list":
		return c.listSpecs(ctx, *output, stdout)
	case "spec get":
		name, err := one()
		if err != nil {
			return err
		}
		return c.getSpec(ctx, name, *output, stdout)
	case "spec delete":
		name, err := one()
		if err != nil {
			return err
		}
		if _, err := c.do(ctx, http.MethodDelete, "/specs/"+url.PathEscape(name), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s\n", name)
		return nil
	case "job list":
		return c.listJobs(ctx, *specName, *status, *output, stdout)
	case "job logs", "job cancel", "job retry":
		arg, err := one()
		if err != nil {
			return err
		}
		id, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || id <= 0 {
			return exit(ExitUsage, "%q is not a job ID", arg)
		}
		switch sub {
		case "logs":
			return c.logs(ctx, id, *follow, stdout)
		case "cancel":
			var j apiv1.Job
			if _, err := c.do(ctx, http.MethodPost, fmt.Sprintf("/jobs/%d/cancel", id), nil, &j); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "job %d (%s revision %d) is %s\n", j.ID, j.Spec, j.Revision, j.Status)
		default:
			var j apiv1.Job
			if _, err := c.do(ctx, http.MethodPost, fmt.Sprintf("/jobs/%d/retry", id), nil, &j); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "job %d (%s revision %d) is %s\n", j.ID, j.Spec, j.Revision, j.Status)
		}
		return nil
	}
	return exit(ExitUsage, "unknown command %q\n%s", group+" "+sub, usage)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// acceptLanguage turns LANG (zh_TW.UTF-8) into a language tag.
func acceptLanguage(lang string) string {
	lang, _, _ = strings.Cut(lang, ".")
	return strings.ReplaceAll(lang, "_", "-")
}

// readSpecFile reads a spec in JSON or YAML; unknown fields are the
// server's to refuse.
func readSpecFile(path string) (db.ImageSpec, []byte, error) {
	if path == "" {
		return db.ImageSpec{}, nil, exit(ExitUsage, "-f SPEC.json is required")
	}
	var raw []byte
	var err error
	if path == "-" {
		raw, err = io.ReadAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return db.ImageSpec{}, nil, exit(ExitUsage, "%v", err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return db.ImageSpec{}, nil, exit(ExitInvalid, "%s is neither JSON nor YAML: %v", path, err)
	}
	var in db.ImageSpec
	if err := json.Unmarshal(js, &in); err != nil {
		return db.ImageSpec{}, nil, exit(ExitInvalid, "%s: %v", path, err)
	}
	if strings.TrimSpace(in.Name) == "" {
		return db.ImageSpec{}, nil, exit(ExitInvalid, "%s has no \"name\"", path)
	}
	return in, js, nil
}

// apply creates or updates the spec; with wait, it waits for the spec's
// latest job (the one it started, else the one already there) and says
// how it ended.
func (c *client) apply(ctx context.Context, path string, wait bool, timeout time.Duration, stdout io.Writer) error {
	in, body, err := readSpecFile(path)
	if err != nil {
		return err
	}
	var res apiv1.SpecResult
	status, err := c.do(ctx, http.MethodPut, "/specs/"+url.PathEscape(in.Name), body, &res)
	if err != nil {
		return err
	}
	switch {
	case status == http.StatusCreated:
		fmt.Fprintf(stdout, "created %s: revision %d queued (job %d)\n", in.Name, res.Job.Revision, res.Job.ID)
	case res.Changed:
		fmt.Fprintf(stdout, "updated %s: revision %d queued (job %d)\n", in.Name, res.Job.Revision, res.Job.ID)
	default:
		fmt.Fprintf(stdout, "%s unchanged\n", in.Name)
	}
	if !wait {
		return nil
	}
	id := res.Spec.LatestJob
	if res.Job != nil {
		id = res.Job.ID
	}
	if id == 0 {
		return exit(ExitError, "%s has no build to wait for", in.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.waitJob(ctx, id, stdout)
}

// waitJob polls a job until it ends and turns its end into an exit code;
// a server that cannot be reached for a moment (a restart) is tried again
// for up to a minute.
func (c *client) waitJob(ctx context.Context, id int64, stdout io.Writer) error {
	last := ""
	var unreachableSince time.Time
	for {
		var j apiv1.Job
		if _, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/jobs/%d", id), nil, &j); err != nil {
			var ee *exitError
			switch {
			case ctx.Err() != nil:
				return exit(ExitTimeout, "job %d did not finish in time", id)
			case errors.As(err, &ee) && ee.transient && (unreachableSince.IsZero() || time.Since(unreachableSince) < time.Minute):
				if unreachableSince.IsZero() {
					unreachableSince = time.Now()
				}
				select {
				case <-ctx.Done():
				case <-time.After(2 * time.Second):
				}
				continue
			}
			return err
		}
		unreachableSince = time.Time{}
		if j.Status != last {
			fmt.Fprintf(stdout, "job %d (%s revision %d): %s\n", j.ID, j.Spec, j.Revision, j.Status)
			last = j.Status
		}
		switch db.Status(j.Status) {
		case db.StatusSucceeded:
			fmt.Fprintf(stdout, "image %s@%s\n", j.Image, j.Digest)
			return nil
		case db.StatusFailed:
			return exit(ExitFailed, "job %d failed: %s%s", j.ID, j.Diagnosis, hintLine(j.Hint))
		case db.StatusCancelled:
			return exit(ExitCancelled, "job %d was cancelled: %s%s", j.ID, j.Diagnosis, hintLine(j.Hint))
		}
		select {
		case <-ctx.Done():
			return exit(ExitTimeout, "job %d did not finish in time (still %s)", id, j.Status)
		case <-time.After(time.Second):
		}
	}
}

func hintLine(h string) string {
	if h == "" {
		return ""
	}
	return "\n" + h
}

func (c *client) listSpecs(ctx context.Context, output string, stdout io.Writer) error {
	var all []apiv1.Spec
	for offset := 0; ; {
		var page struct {
			Total int          `json:"total"`
			Specs []apiv1.Spec `json:"specs"`
		}
		if _, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/specs?limit=1000&offset=%d", offset), nil, &page); err != nil {
			return err
		}
		all = append(all, page.Specs...)
		offset += len(page.Specs)
		if len(page.Specs) == 0 || offset >= page.Total {
			break
		}
	}
	if output != "table" {
		return write(stdout, output, all)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tREVISION\tIMAGE")
	for _, s := range all {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", s.Name, orDash(s.Status), s.LatestRevision, orDash(s.Image))
	}
	return tw.Flush()
}

func (c *client) getSpec(ctx context.Context, name, output string, stdout io.Writer) error {
	var s apiv1.Spec
	if _, err := c.do(ctx, http.MethodGet, "/specs/"+url.PathEscape(name), nil, &s); err != nil {
		return err
	}
	if output != "table" {
		// What apply takes: the spec itself.
		return write(stdout, output, s.ImageSpec)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "name\t%s\nbase image\t%s\nstatus\t%s (revision %d, job %d)\nimage\t%s\n", s.Name, s.BaseImage, orDash(s.Status), s.LatestRevision, s.LatestJob, orDash(s.Image))
	for _, l := range []struct {
		name  string
		lines []string
	}{{"apt", s.APT}, {"conda", s.Conda}, {"pip", s.Pip}} {
		if len(l.lines) > 0 {
			fmt.Fprintf(tw, "%s\t%s\n", l.name, strings.Join(l.lines, ", "))
		}
	}
	return tw.Flush()
}

func (c *client) listJobs(ctx context.Context, spec, status, output string, stdout io.Writer) error {
	path := "/jobs"
	if spec != "" {
		path = "/specs/" + url.PathEscape(spec) + "/jobs"
	}
	q := url.Values{"limit": {"100"}}
	if status != "" {
		q.Set("status", status)
	}
	var page struct {
		Jobs []apiv1.Job `json:"jobs"`
	}
	if _, err := c.do(ctx, http.MethodGet, path+"?"+q.Encode(), nil, &page); err != nil {
		return err
	}
	if output != "table" {
		return write(stdout, output, page.Jobs)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSPEC\tREVISION\tSTATUS\tQUEUED\tDIAGNOSIS")
	for _, j := range page.Jobs {
		queued := "-"
		if j.QueuedAt != nil {
			queued = j.QueuedAt.Local().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\n", j.ID, j.Spec, j.Revision, j.Status, queued, orDash(firstLine(j.Diagnosis)))
	}
	return tw.Flush()
}

// logs prints a job's log; with follow it streams it (Server-Sent
// Events, resuming after a dropped connection) until the job ends, and
// exits as the job ended.
func (c *client) logs(ctx context.Context, id int64, follow bool, stdout io.Writer) error {
	if !follow {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/jobs/%d/log", c.server, id), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := c.http.Do(req)
		if err != nil {
			return exit(ExitError, "cannot reach %s: %v", c.server, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			return apiErr(resp.StatusCode, raw)
		}
		_, err = io.Copy(stdout, resp.Body)
		return err
	}
	var from int64
	for attempt := 0; ; attempt++ {
		end, next, err := c.stream(ctx, id, from, stdout)
		if end != "" {
			if s := db.Status(end); s == db.StatusFailed || s == db.StatusCancelled {
				return c.waitJob(ctx, id, io.Discard) // its diagnosis and exit code
			}
			return nil
		}
		var ee *exitError
		if errors.As(err, &ee) || ctx.Err() != nil || attempt > 30 {
			if err == nil {
				err = ctx.Err()
			}
			return err
		}
		if next > from {
			attempt = 0
		}
		from = next
		time.Sleep(time.Second)
	}
}

// stream reads the event stream from offset from; it returns the job's
// final status once the stream ends with it, and the offset reached.
func (c *client) stream(ctx context.Context, id, from int64, stdout io.Writer) (end string, next int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/jobs/%d/events?from=%d", c.server, id, from), nil)
	if err != nil {
		return "", from, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", from, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return "", from, apiErr(resp.StatusCode, raw)
	}
	next = from
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var event, id2, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			switch event {
			case "line":
				fmt.Fprintln(stdout, data)
				if v, err := strconv.ParseInt(id2, 10, 64); err == nil {
					next = v
				}
			case "end":
				return data, next, nil
			}
			event, id2, data = "", "", ""
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			id2 = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
	return "", next, sc.Err()
}

func write(w io.Writer, output string, v any) error {
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		raw, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(raw)
		return err
	}
	return exit(ExitUsage, "-o %q: use table, json or yaml", output)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
