//! Fair, patient admission to the bcrypt workers.
//!
//! bcrypt is slow on purpose (about 200 ms at cost 12 on one core), so the
//! number of hashes running at once is bounded by a few worker threads, and
//! everything else waits here. Three rules decide who waits and who is
//! turned away:
//!
//! - **Patient**: a job is admitted when its expected wait (the jobs ahead
//!   of it × the recent average hash time ÷ workers) fits in the budget
//!   (`HASH_QUEUE_WAIT_SECS`); it then waits, blocked, without using CPU.
//!   A class of 30 signing in at once all get in.
//! - **Fair**: waiting jobs are served round-robin by client address (one
//!   job per address per round), so a flood from one address delays
//!   another address's login by about one hash per worker (at most a
//!   quantum, below, when the flood has just begun). An address that
//!   had nothing waiting goes ahead of those already taking turns, as new
//!   flows do in FQ-CoDel (RFC 8290 §4.1): a person logging in once waits
//!   for the next free worker, not for the flood's next job as well. As in
//!   FQ-CoDel, an address served stays in the rotation, even with nothing
//!   waiting, until its turn comes round again: one that sends its next
//!   request as soon as the last is answered is not new again, so a few
//!   addresses taking turns can never starve another. A new address's turn is a quantum of up to
//!   [`NEW_FLOW_QUANTUM`] jobs in a row (FQ-CoDel's quantum, counted in
//!   jobs): someone who pressed "sign in" on three tabs waits for those
//!   three, not for three rounds of everyone else. One address alone may
//!   use the whole budget (a class behind one NAT).
//! - **Answered by its deadline**: a job admitted but still waiting when the
//!   budget has passed is withdrawn and refused like one over the budget;
//!   only a job already running is waited for (one hash).
//! - **No busy loop**: a job over the budget is refused with the expected
//!   wait as `Retry-After`, but only after being held (blocked, at most
//!   [`MAX_HOLD`]) until its address's next turn could have come, so a
//!   client that retries at once cannot turn refusals into a spin that
//!   takes the CPU from bcrypt.
//! - **Behind the session checks**: the workers run at a lower CPU
//!   priority ([`WORKER_NICENESS`]). When hashes fill every core, a session
//!   check (microseconds of work, on every page load behind forward auth)
//!   would otherwise wait for a hash's time slice; at nice +10 the
//!   scheduler runs it as soon as it wakes, and the hashes still get every
//!   cycle the checks leave.
//!
//! The mutex is held only to look at and change the queue, never while a
//! hash runs.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::lock::lock;
use crate::support::metrics::Metrics;

/// How many nice steps below the server's other threads a worker runs.
/// CFS weighs a nice-10 thread at 110 against 1,024 for nice 0 (sched(7)),
/// so a waking check preempts a hash; measured in BENCHMARKS.md (GET
/// /api/user p99 during a login flood, 5–6 ms → 3.3 ms; 4–20 % fewer
/// hashes while 32,000 checks a second ran beside them).
pub const WORKER_NICENESS: i32 = 10;

/// Jobs a new address may have run in a row before it takes turns.
pub const NEW_FLOW_QUANTUM: usize = 4;
/// The longest a refused job is held before its refusal is answered.
pub const MAX_HOLD: Duration = Duration::from_secs(1);
/// The weight of the newest measurement in the running average (1/8): a
/// few hashes move it, one odd one does not.
const AVERAGE_WEIGHT: u32 = 8;

/// Lowers this thread's CPU priority by [`WORKER_NICENESS`] (never past
/// 19, the lowest; lowering needs no privilege). Linux keeps a nice value
/// per thread (setpriority(2), NOTES); elsewhere it is the whole
/// process's, so elsewhere nothing changes. A refusal (a sandbox) leaves
/// the thread as it was: slower checks under a flood, nothing worse.
#[cfg(target_os = "linux")]
fn lower_priority() {
    use rustix::process::{getpriority_process, setpriority_process};
    let me = Some(rustix::thread::gettid());
    if let Ok(nice) = getpriority_process(me) {
        let _ = setpriority_process(me, (nice + WORKER_NICENESS).min(19));
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

/// A queued job; it answers `false` without running when its caller has
/// withdrawn it.
type Job = Box<dyn FnOnce() -> bool + Send>;

/// Where a queued job stands, shared by its caller and the worker that takes
/// it: whichever moves it first from `WAITING` decides.
const WAITING: u8 = 0;
const RUNNING: u8 = 1;
const WITHDRAWN: u8 = 2;

/// Why a job did not run.
#[derive(Debug, PartialEq, Eq)]
pub enum QueueError {
    /// Its expected wait was over the budget, or it was still waiting when
    /// the budget had passed: try again after this long.
    OverBudget { expected_wait: Duration },
    /// It was admitted but its worker stopped before answering.
    WorkerStopped,
}

pub struct HashQueue {
    shared: Arc<Shared>,
}

struct Shared {
    workers: usize,
    budget: Duration,
    /// Where waits and hash times are counted, when metrics are on.
    metrics: Option<Arc<Metrics>>,
    state: Mutex<State>,
    /// Signalled when a job is queued or the queue closes.
    work: Condvar,
}

struct State {
    /// Every address in the rotation with its waiting jobs (and the time
    /// each was queued), oldest first. An address served stays here, with
    /// no jobs, until its turn comes round again.
    waiting: HashMap<IpAddr, VecDeque<Job>>,
    /// Addresses that were not in the rotation when their job arrived,
    /// each with the jobs it may still have run in a row: served before
    /// `turns`.
    fresh: VecDeque<(IpAddr, usize)>,
    /// Addresses taking turns, in the order they are served.
    turns: VecDeque<IpAddr>,
    queued: usize,
    running: usize,
    /// The recent average time one job takes.
    average: Duration,
    closed: bool,
}

impl State {
    /// The next job: the oldest job of the first fresh address (which
    /// stays first while it has jobs and quantum left), or else of the next
    /// address taking turns. Then the address goes to the back of the
    /// turns; one whose turn finds it with nothing waiting leaves the
    /// rotation (it is new again next time).
    fn next_job(&mut self) -> Option<Job> {
        loop {
            let (client, credit) = match self.fresh.pop_front() {
                Some(fresh) => fresh,
                None => (self.turns.pop_front()?, 1),
            };
            let Some(jobs) = self.waiting.get_mut(&client) else {
                continue;
            };
            match jobs.pop_front() {
                Some(job) => {
                    if credit > 1 && !jobs.is_empty() {
                        self.fresh.push_front((client, credit - 1));
                    } else {
                        self.turns.push_back(client);
                    }
                    self.queued -= 1;
                    return Some(job);
                }
                None => {
                    self.waiting.remove(&client);
                }
            }
        }
    }

    /// Jobs that would run before a new one from `client`, and how many
    /// addresses are in the rotation: a fresh address waits for those
    /// running and the other fresh addresses; one in the rotation, for its
    /// own jobs and from every other address as many as get a turn before
    /// the new job's round (its own count plus one).
    fn ahead_of_new(&self, client: IpAddr) -> (usize, usize) {
        let addresses = self.fresh.len() + self.turns.len();
        let Some(mine) = self.waiting.get(&client).map(VecDeque::len) else {
            let fresh: usize = self
                .fresh
                .iter()
                .map(|(address, credit)| {
                    self.waiting
                        .get(address)
                        .map_or(0, VecDeque::len)
                        .min(*credit)
                })
                .sum();
            return (self.running + fresh, addresses);
        };
        let others: usize = self
            .waiting
            .iter()
            .filter(|(address, _)| **address != client)
            .map(|(_, jobs)| jobs.len().min(mine + 1))
            .sum();
        (self.running + mine + others, addresses)
    }

    /// When an address's next turn could come: after one job of every
    /// address in the rotation and its own.
    fn next_turn(&self, workers: usize) -> Duration {
        let addresses = self.fresh.len() + self.turns.len();
        self.average.saturating_mul(addresses as u32 + 1) / workers as u32
    }
}

impl HashQueue {
    /// Starts `workers` threads; `estimate` is the average job time to
    /// assume until jobs have been measured.
    pub fn new(
        workers: usize,
        budget: Duration,
        estimate: Duration,
        metrics: Option<Arc<Metrics>>,
    ) -> HashQueue {
        let workers = workers.max(1);
        let shared = Arc::new(Shared {
            workers,
            budget,
            metrics,
            state: Mutex::new(State {
                waiting: HashMap::new(),
                fresh: VecDeque::new(),
                turns: VecDeque::new(),
                queued: 0,
                running: 0,
                average: estimate,
                closed: false,
            }),
            work: Condvar::new(),
        });
        for n in 0..workers {
            let shared = Arc::clone(&shared);
            // If a thread cannot start, the others still serve; with none,
            // admitted jobs would wait forever, so that is logged at start
            // by the caller seeing no progress. Spawning 1..1024 small
            // threads does not fail on a working system.
            let _ = thread::Builder::new()
                .name(format!("bcrypt-{n}"))
                .spawn(move || work(&shared));
        }
        HashQueue { shared }
    }

    /// Runs `job` for `client` (an address group) when its turn comes, and
    /// waits for its answer; or refuses it when the wait would be over the
    /// budget, after holding it as the module documentation says, or when
    /// it is still waiting once the budget has passed.
    pub fn run<T: Send + 'static>(
        &self,
        client: IpAddr,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, QueueError> {
        let shared = &*self.shared;
        let (answer, answered) = mpsc::sync_channel(1);
        let mut state = lock(&shared.state);
        let (ahead, _) = state.ahead_of_new(client);
        let expected_wait = state.average.saturating_mul(ahead as u32) / shared.workers as u32;
        if expected_wait > shared.budget {
            let next_turn = state.next_turn(shared.workers);
            drop(state);
            thread::sleep(next_turn.min(MAX_HOLD));
            return Err(QueueError::OverBudget { expected_wait });
        }
        let standing = Arc::new(AtomicU8::new(WAITING));
        let claim = Arc::clone(&standing);
        let metrics = shared.metrics.clone();
        let queued_at = Instant::now();
        let job: Job = Box::new(move || {
            if claim
                .compare_exchange(WAITING, RUNNING, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return false;
            }
            let started = Instant::now();
            let value = job();
            // Counted before the answer goes: whoever got the answer sees
            // the hash in the metrics.
            if let Some(metrics) = &metrics {
                metrics.hash_waited(started.duration_since(queued_at));
                metrics.hashed(started.elapsed());
            }
            let _ = answer.send(value);
            true
        });
        if !state.waiting.contains_key(&client) {
            state.fresh.push_back((client, NEW_FLOW_QUANTUM));
        }
        let mine = state.waiting.entry(client).or_default();
        mine.push_back(job);
        state.queued += 1;
        drop(state);
        shared.work.notify_one();

        match answered.recv_timeout(shared.budget) {
            Ok(value) => Ok(value),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(QueueError::WorkerStopped),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let withdrawn = standing
                    .compare_exchange(WAITING, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
                if withdrawn {
                    let expected_wait = lock(&shared.state).next_turn(shared.workers);
                    return Err(QueueError::OverBudget { expected_wait });
                }
                // A worker took it just now: it is one hash from done.
                answered.recv().map_err(|_| QueueError::WorkerStopped)
            }
        }
    }

    /// Jobs waiting for a worker now.
    pub fn depth(&self) -> usize {
        lock(&self.shared.state).queued
    }

    /// The recent average time one job takes.
    pub fn average(&self) -> Duration {
        lock(&self.shared.state).average
    }

    /// Replaces the average, for example with a measured hash at start-up.
    pub fn set_average(&self, average: Duration) {
        lock(&self.shared.state).average = average;
    }
}

impl Drop for HashQueue {
    /// Workers finish what is queued, then end.
    fn drop(&mut self) {
        lock(&self.shared.state).closed = true;
        self.shared.work.notify_all();
    }
}

/// A worker: take the next job in turn, run it, measure it, repeat. A job
/// that panics loses only its own answer (its caller sees `WorkerStopped`).
fn work(shared: &Shared) {
    lower_priority();
    loop {
        let mut state = lock(&shared.state);
        let job = loop {
            if let Some(next) = state.next_job() {
                break next;
            }
            if state.closed {
                return;
            }
            state = shared
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        };
        state.running += 1;
        drop(state);

        let started = Instant::now();
        // A panicking job ran (and is measured here); a withdrawn one did
        // not. The metrics were counted by the job itself.
        let ran = catch_unwind(AssertUnwindSafe(job)).unwrap_or(true);
        let took = started.elapsed();

        let mut state = lock(&shared.state);
        state.running -= 1;
        if ran {
            state.average = (state.average.saturating_mul(AVERAGE_WEIGHT - 1)).saturating_add(took)
                / AVERAGE_WEIGHT;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn sleeper(ms: u64) -> impl FnOnce() -> Instant + Send + 'static {
        move || {
            thread::sleep(Duration::from_millis(ms));
            Instant::now()
        }
    }

    #[test]
    fn a_burst_within_the_budget_all_runs() {
        let queue = HashQueue::new(2, Duration::from_secs(5), Duration::from_millis(20), None);
        let answers: Vec<_> = thread::scope(|scope| {
            let handles: Vec<_> = (0..20)
                .map(|_| scope.spawn(|| queue.run(ip(1), sleeper(20))))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(answers.iter().all(Result::is_ok));
        assert_eq!(queue.depth(), 0);
    }

    #[test]
    fn over_the_budget_is_refused_with_the_expected_wait_after_a_hold() {
        let queue = HashQueue::new(
            1,
            Duration::from_millis(100),
            Duration::from_millis(50),
            None,
        );
        let refusals: Vec<_> = thread::scope(|scope| {
            let handles: Vec<_> = (0..10)
                .map(|_| {
                    scope.spawn(|| {
                        let asked = Instant::now();
                        queue
                            .run(ip(1), sleeper(50))
                            .err()
                            .map(|e| (e, asked.elapsed()))
                    })
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().unwrap())
                .collect()
        });
        assert!(refusals.len() >= 5, "{} refused", refusals.len());
        for (error, held) in refusals {
            let QueueError::OverBudget { expected_wait } = error else {
                panic!("{error:?}");
            };
            assert!(expected_wait > Duration::from_millis(100));
            // Held until its next turn could come (about one job), not
            // answered at once: a lower bound, which load cannot break;
            // and never much past the longest hold, generously.
            assert!(held >= Duration::from_millis(20), "{held:?}");
            assert!(held <= MAX_HOLD * 10, "{held:?}");
        }
    }

    #[test]
    fn addresses_take_turns() {
        // One worker; address 1 queues eight jobs, then address 2 queues
        // one: it runs after the job running and at most the flood's first
        // quantum (a new address's few in a row), not after eight.
        let queue = HashQueue::new(1, Duration::from_secs(60), Duration::from_millis(10), None);
        let (flood_done, lone_done) = thread::scope(|scope| {
            let flood: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| queue.run(ip(1), sleeper(30)).unwrap()))
                .collect();
            while queue.depth() < 7 {
                thread::sleep(Duration::from_millis(1));
            }
            let lone = queue.run(ip(2), sleeper(30)).unwrap();
            let mut flood: Vec<Instant> = flood.into_iter().map(|h| h.join().unwrap()).collect();
            flood.sort();
            (flood, lone)
        });
        let before_lone = flood_done.iter().filter(|&&t| t < lone_done).count();
        assert!(
            before_lone <= NEW_FLOW_QUANTUM + 1,
            "{before_lone} of the flood ran first"
        );
    }

    #[test]
    fn addresses_that_keep_coming_back_cannot_starve_another() {
        // Three addresses each send their next job the moment the last is
        // answered; a fourth queues three at once. Its jobs run as soon as
        // the one running ends, not after the attack (were the three "new"
        // again every time, the fourth would wait as long as they kept on).
        //
        // Counted, not timed: how many attackers' jobs finish while each of
        // the fourth's waits, whatever else the machine is doing.
        let job = Duration::from_millis(20);
        let queue = HashQueue::new(1, Duration::from_secs(60), job, None);
        let stop = std::sync::atomic::AtomicBool::new(false);
        let attackers_done = std::sync::atomic::AtomicUsize::new(0);
        let attack_ends = Instant::now() + Duration::from_secs(30);
        let passed: Vec<usize> = thread::scope(|scope| {
            for attacker in 1..=3 {
                let (queue, stop, done) = (&queue, &stop, &attackers_done);
                scope.spawn(move || {
                    while !stop.load(Ordering::SeqCst) && Instant::now() < attack_ends {
                        queue.run(ip(attacker), sleeper(20)).unwrap();
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
            // The attack is under way: each address has been served.
            while attackers_done.load(Ordering::SeqCst) < 6 {
                thread::sleep(Duration::from_millis(5));
            }
            let victims: Vec<_> = (0..3)
                .map(|_| {
                    scope.spawn(|| {
                        let before = attackers_done.load(Ordering::SeqCst);
                        queue.run(ip(9), sleeper(20)).unwrap();
                        attackers_done.load(Ordering::SeqCst) - before
                    })
                })
                .collect();
            let passed = victims.into_iter().map(|v| v.join().unwrap()).collect();
            stop.store(true, Ordering::SeqCst);
            passed
        });
        for (k, passed) in passed.into_iter().enumerate() {
            // New, its three run in a row (the quantum) after the job
            // running: on an idle machine one or two pass it. A loaded one
            // may hold a victim's thread between its count and its turn in
            // the queue, so the bound is four rounds of the three
            // attackers; a starved address sees the attack go on (hundreds).
            assert!(passed <= 12, "job {k}: {passed} attackers' jobs went first");
        }
    }

    #[test]
    fn a_job_still_waiting_at_its_deadline_is_answered_then() {
        // Admitted on an optimistic estimate, then slower than expected:
        // those still queued when the budget passes are refused at once.
        let budget = Duration::from_millis(150);
        let queue = HashQueue::new(1, budget, Duration::from_millis(1), None);
        let answers: Vec<_> = thread::scope(|scope| {
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    scope.spawn(|| {
                        let asked = Instant::now();
                        let answer = queue.run(ip(1), sleeper(100));
                        (answer.is_ok(), asked.elapsed())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let refused = answers.iter().filter(|(ok, _)| !ok).count();
        assert!(refused >= 3, "{answers:?}");
        for (_, waited) in answers {
            // Its deadline, plus at most the one job it might have started:
            // generously, in the budget's own units (a loaded machine
            // stretches the jobs, never the order).
            assert!(waited <= budget * 20, "{waited:?}");
        }
    }

    #[test]
    fn the_average_follows_what_jobs_take() {
        let queue = HashQueue::new(1, Duration::from_secs(60), Duration::from_secs(1), None);
        for _ in 0..40 {
            queue.run(ip(1), sleeper(5)).unwrap();
        }
        // Far from the first estimate of a second, however slow the
        // machine makes a 5 ms job.
        assert!(
            queue.average() < Duration::from_millis(500),
            "{:?}",
            queue.average()
        );
    }
}
