package shards

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Directive is what a supervisor does with a failed actor.
type Directive int

// Directives.
const (
	// Restart the actor (after Decision.Delay).
	Restart Directive = iota + 1
	// Stop the actor: give up on it.
	Stop
	// Escalate the failure to the supervisor's own supervisor.
	Escalate
)

func (d Directive) String() string {
	switch d {
	case Restart:
		return "restart"
	case Stop:
		return "stop"
	case Escalate:
		return "escalate"
	}
	return "unknown"
}

// SupervisionPolicy is a restart policy with intensity and period: at most
// MaxRestarts restarts within Within; one more failure gives up with
// GiveUp. Restarts wait Backoff, doubled for each earlier failure in the
// window, at most MaxBackoff.
type SupervisionPolicy struct {
	// MaxRestarts is the intensity. Zero means 5; negative means never
	// restart.
	MaxRestarts int
	// Within is the period. Zero means 10s.
	Within time.Duration
	// Backoff is the delay before the first restart in a window. Zero
	// means none (immediate restarts).
	Backoff time.Duration
	// MaxBackoff caps the delay. Zero means 10 * Backoff.
	MaxBackoff time.Duration
	// GiveUp is Stop or Escalate. Zero means Escalate.
	GiveUp Directive
}

func (p SupervisionPolicy) withDefaults() SupervisionPolicy {
	if p.MaxRestarts == 0 {
		p.MaxRestarts = 5
	}
	if p.Within == 0 {
		p.Within = 10 * time.Second
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = 10 * p.Backoff
	}
	if p.GiveUp == 0 {
		p.GiveUp = Escalate
	}
	return p
}

// Decision is what Decide chose.
type Decision struct {
	Directive Directive
	Delay     time.Duration
}

// Decide is the supervision decision for a failure at now, given the times
// of the actor's earlier failures (oldest first). It returns the decision
// and the failure history to keep (those within the period, now included).
// It is a pure function.
func Decide(p SupervisionPolicy, history []time.Time, now time.Time) (Decision, []time.Time) {
	p = p.withDefaults()
	kept := make([]time.Time, 0, len(history)+1)
	for _, t := range history {
		if now.Sub(t) < p.Within {
			kept = append(kept, t)
		}
	}
	kept = append(kept, now)
	if p.MaxRestarts < 0 || len(kept) > p.MaxRestarts {
		return Decision{Directive: p.GiveUp}, kept
	}
	delay := p.Backoff
	for i := 1; i < len(kept) && delay < p.MaxBackoff; i++ {
		delay *= 2
	}
	if delay > p.MaxBackoff {
		delay = p.MaxBackoff
	}
	return Decision{Directive: Restart, Delay: delay}, kept
}

// Strategy is a protoactor SupervisorStrategy that carries out Decide's
// decisions, one-for-one, with an injected clock. Delayed restarts use
// timers, stopped by Close.
type Strategy struct {
	policy   SupervisionPolicy
	now      func() time.Time
	onDecide func(child *actor.PID, reason any, d Decision)

	mu struct {
		sync.Mutex
		history map[string][]time.Time
		timers  map[*time.Timer]bool
		closed  bool
	}
}

var _ actor.SupervisorStrategy = (*Strategy)(nil)

// NewStrategy returns a strategy for policy. now nil means time.Now;
// onDecide (optional, must not block) observes every decision.
func NewStrategy(policy SupervisionPolicy, now func() time.Time, onDecide func(child *actor.PID, reason any, d Decision)) *Strategy {
	if now == nil {
		now = time.Now
	}
	s := &Strategy{policy: policy, now: now, onDecide: onDecide}
	s.mu.history = map[string][]time.Time{}
	s.mu.timers = map[*time.Timer]bool{}
	return s
}

// HandleFailure implements actor.SupervisorStrategy.
func (s *Strategy) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, _ any) {
	s.mu.Lock()
	d, kept := Decide(s.policy, s.mu.history[child.Id], s.now())
	s.mu.history[child.Id] = kept
	closed := s.mu.closed
	s.mu.Unlock()
	if s.onDecide != nil {
		s.onDecide(child, reason, d)
	}
	switch {
	case d.Directive == Restart && closed:
		sup.StopChildren(child)
	case d.Directive == Restart && d.Delay <= 0:
		sup.RestartChildren(child)
	case d.Directive == Restart:
		// The child's mailbox stays suspended until then: its messages wait.
		var t *time.Timer
		s.mu.Lock()
		t = time.AfterFunc(d.Delay, func() {
			s.mu.Lock()
			delete(s.mu.timers, t)
			s.mu.Unlock()
			sup.RestartChildren(child)
		})
		s.mu.timers[t] = true
		s.mu.Unlock()
	case d.Directive == Stop:
		sup.StopChildren(child)
	default:
		sup.EscalateFailure(reason, nil)
	}
}

// Close stops pending delayed restarts; later failures stop the child.
func (s *Strategy) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.closed = true
	for t := range s.mu.timers {
		t.Stop()
	}
	s.mu.timers = map[*time.Timer]bool{}
}
