package webhooks

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"imagebuilder/builder/settings"
	"imagebuilder/db"
	"imagebuilder/db/dbtest"
	"imagebuilder/db/failure"
)

type received struct {
	header http.Header
	body   []byte
}

// receiver is an endpoint on loopback that answers with the statuses
// given, in turn (200 once they are used up), after release closes.
type receiver struct {
	mu       sync.Mutex
	got      []received
	statuses []int
	release  chan struct{}
	arrived  chan struct{}
	srv      *httptest.Server
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses, release: make(chan struct{}), arrived: make(chan struct{}, 100)}
	close(r.release)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.arrived <- struct{}{}
		<-r.release
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Clone(), body})
		status := http.StatusOK
		if len(r.statuses) > 0 {
			status, r.statuses = r.statuses[0], r.statuses[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func setup(t *testing.T) (*Dispatcher, *db.DB, context.Context) {
	t.Helper()
	dir := t.TempDir()
	store, err := db.Open(filepath.Join(dir, "imagebuilder.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	box, err := settings.OpenSecretBox(filepath.Join(dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	d := New(Config{DB: store, Box: box, Timeout: 2 * time.Second, FirstRetry: 20 * time.Millisecond, MaxRetry: 100 * time.Millisecond, GiveUpAfter: 2 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return d, store, ctx
}

func waitDelivery(t *testing.T, store *db.DB, id int64, state string) db.Delivery {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if x, err := store.GetDelivery(context.Background(), id); err == nil && x.State == state {
			return x
		}
	}
	x, _ := store.GetDelivery(context.Background(), id)
	t.Fatalf("delivery %d is %+v, want %s", id, x, state)
	return db.Delivery{}
}

var failedAPT = &failure.Failure{Reason: failure.APTNotFound, Args: []string{"nosuch"}, Lines: []string{"E: Unable to locate package nosuch"},
	Message: "the APT step failed (exit status 100): E: Unable to locate package nosuch"}

// failJob ends a job of spec "tools" as failed for failedAPT; the store
// records its deliveries with it.
func failJob(t *testing.T, store *db.DB) db.Job {
	return dbtest.EndedJob(t, store, "tools", db.JobOutcome{Status: db.StatusFailed, Failure: failedAPT})
}

func TestDeliveriesAreSignedRetriedAndRecorded(t *testing.T) {
	d, store, ctx := setup(t)
	rcv := newReceiver(t, http.StatusServiceUnavailable, http.StatusInternalServerError)
	secret := "a-secret-of-enough-length"
	if _, err := d.Add(ctx, rcv.srv.URL+"/hooks", secret, []string{db.EventJobFailed, db.EventJobCancelled}, "admin"); err != nil {
		t.Fatal(err)
	}
	onlySucceeded := newReceiver(t)
	if _, err := d.Add(ctx, onlySucceeded.srv.URL, secret, []string{db.EventJobSucceeded}, "admin"); err != nil {
		t.Fatal(err)
	}
	failed := failJob(t, store)
	d.JobFinished(failed)
	recent, _ := store.RecentDeliveries(ctx, 10)
	if len(recent) != 1 {
		t.Fatalf("deliveries %+v, want one for the endpoint that takes job.failed", recent)
	}
	x := waitDelivery(t, store, recent[0].ID, db.DeliveryDelivered)
	if x.Attempts != 3 || x.StatusCode != 200 || x.Duration < 0 || x.LastAt.IsZero() {
		t.Fatalf("recorded %+v, want 3 attempts ending in 200", x)
	}
	got := rcv.requests()
	if len(got) != 3 {
		t.Fatalf("the endpoint got %d requests, want 3", len(got))
	}
	for i, r := range got {
		h := r.header
		if h.Get(HeaderDelivery) != jsonID(x.ID) || h.Get(HeaderEvent) != db.EventJobFailed {
			t.Errorf("attempt %d headers %v", i+1, h)
		}
		if err := Verify([]byte(secret), h.Get(HeaderTimestamp), h.Get(HeaderSignature), r.body, 5*time.Minute, time.Now()); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
		// The same delivery ten minutes later is refused as a replay, and
		// a body changed on the way does not verify.
		if Verify([]byte(secret), h.Get(HeaderTimestamp), h.Get(HeaderSignature), r.body, 5*time.Minute, time.Now().Add(10*time.Minute)) == nil {
			t.Error("a replayed delivery verified")
		}
		if Verify([]byte(secret), h.Get(HeaderTimestamp), h.Get(HeaderSignature), append(r.body, ' '), 5*time.Minute, time.Now()) == nil {
			t.Error("a changed body verified")
		}
	}
	var p Payload
	if err := json.Unmarshal(got[2].body, &p); err != nil || p.Event != db.EventJobFailed || p.Job.ID != failed.ID || p.Job.Spec != "tools" || p.Job.Reason != "apt-package-not-found" ||
		!reflect.DeepEqual(p.Job.Failure, failedAPT) || p.Job.Error != failedAPT.Message {
		t.Fatalf("payload %s (%v)", got[2].body, err)
	}
	if strings.Contains(string(got[2].body), secret) {
		t.Fatal("the payload holds the secret")
	}
	if n := len(onlySucceeded.requests()); n != 0 {
		t.Fatalf("an endpoint for job.succeeded got %d job.failed deliveries", n)
	}

	// Redelivery is a new delivery of the same body.
	nid, err := d.Redeliver(ctx, x.ID)
	if err != nil {
		t.Fatal(err)
	}
	waitDelivery(t, store, nid, db.DeliveryDelivered)
	got = rcv.requests()
	if len(got) != 4 || got[3].header.Get(HeaderDelivery) != jsonID(nid) || string(got[3].body) != string(got[2].body) {
		t.Fatalf("redelivery: %d requests, last %v", len(got), got[len(got)-1].header)
	}
}

// A slow endpoint does not hold up the job's end, and a dead one is given
// up after the bounded time, with why.
func TestSlowAndDeadEndpointsNeverHoldABuild(t *testing.T) {
	d, store, ctx := setup(t)
	slow := newReceiver(t)
	slow.release = make(chan struct{})
	secret := "another-long-enough-secret"
	if _, err := d.Add(ctx, slow.srv.URL, secret, []string{db.EventJobFailed}, "admin"); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/gone"
	ln.Close()
	if _, err := d.Add(ctx, dead, secret, []string{db.EventJobFailed}, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Add(ctx, "http://169.254.169.254/latest/meta-data", secret, []string{db.EventJobFailed}, "admin"); err != nil {
		t.Fatal(err)
	}
	d.JobFinished(failJob(t, store))
	// The job's end was recorded and JobFinished returned; the slow
	// endpoint now holds its delivery, which has not been answered.
	<-slow.arrived
	close(slow.release)
	recent, _ := store.RecentDeliveries(ctx, 10)
	if len(recent) != 3 {
		t.Fatalf("deliveries %+v", recent)
	}
	for _, x := range recent {
		if x.URL == slow.srv.URL {
			continue
		}
		got := waitDelivery(t, store, x.ID, db.DeliveryFailed)
		if got.Attempts < 2 || got.Error == "" {
			t.Fatalf("the given-up delivery %+v has no attempts or reason", got)
		}
		if strings.Contains(x.URL, "169.254") && !strings.Contains(got.Error, "refused") {
			t.Fatalf("the metadata address was not refused: %q", got.Error)
		}
	}
	for _, x := range recent {
		if x.URL == slow.srv.URL {
			waitDelivery(t, store, x.ID, db.DeliveryDelivered)
		}
	}
}

func TestEndpointFormErrors(t *testing.T) {
	d, _, ctx := setup(t)
	_, err := d.Add(ctx, "ftp://user:pw@example.com", "short", []string{"job.exploded"}, "admin")
	if err == nil || !strings.Contains(err.Error(), "url") || !strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "events") {
		t.Fatalf("want an error for each field, got %v", err)
	}
	if _, err := d.Add(ctx, "https://user:pw@example.com/hook", "long-enough-secret!", []string{db.EventJobFailed}, "admin"); err == nil {
		t.Fatal("a URL with credentials was accepted")
	}
}

func jsonID(id int64) string {
	b, _ := json.Marshal(id)
	return string(b)
}

// The transaction that ends a job records its deliveries: a process that
// dies right after it, before anything wakes the sender, loses none; a
// pending revision superseded by a newer one has its delivery too.
func TestAJobsEndAndItsDeliveriesAreOneWrite(t *testing.T) {
	d, store, ctx := setup(t)
	rcv := newReceiver(t)
	if _, err := d.Add(ctx, rcv.srv.URL, "a-secret-of-enough-length", []string{db.EventJobFailed, db.EventJobCancelled}, "admin"); err != nil {
		t.Fatal(err)
	}
	failed := failJob(t, store) // and nothing else: no JobFinished
	spec := db.ImageSpec{Name: "edited", BaseImage: "registry.example.com/base:1", APT: []string{"curl"}}
	_, first, err := store.CreateSpec(ctx, spec, "registry.example.com")
	if err != nil {
		t.Fatal(err)
	}
	spec.APT = []string{"wget"}
	if _, _, err := store.UpdateSpec(ctx, spec, "registry.example.com"); err != nil {
		t.Fatal(err)
	}
	recent, err := store.RecentDeliveries(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	byJob := map[int64]db.Delivery{}
	for _, x := range recent {
		byJob[x.JobID] = x
	}
	if x, ok := byJob[failed.ID]; !ok || x.Event != db.EventJobFailed || !strings.Contains(x.Payload, `"reason":"apt-package-not-found"`) {
		t.Errorf("the failed job's delivery: %+v (all: %+v)", x, recent)
	}
	if x, ok := byJob[first.ID]; !ok || x.Event != db.EventJobCancelled || !strings.Contains(x.Payload, `"reason":"superseded"`) {
		t.Errorf("the superseded job's delivery: %+v (all: %+v)", x, recent)
	}
	if len(recent) != 2 {
		t.Errorf("deliveries: %+v, want two", recent)
	}
}
