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
//!   job per address with waiting jobs per round), so a flood from one
//!   address delays another address's login by about one hash per worker.
//!   An address that had nothing waiting goes ahead of those that are
//!   already taking turns, as new flows do in FQ-CoDel (RFC 8290 §4.1): a
//!   person logging in once waits for the next free worker, not for the
//!   flood's next job as well. One address alone may use the whole budget
//!   (a class behind one NAT).
//! - **No busy loop**: a job over the budget is refused with the expected
//!   wait as `Retry-After`, but only after being held (blocked, at most
//!   [`MAX_HOLD`]) until its address's next turn could have come, so a
//!   client that retries at once cannot turn refusals into a spin that
//!   takes the CPU from bcrypt.
//!
//! The mutex is held only to look at and change the queue, never while a
//! hash runs.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::lock::lock;
use crate::support::metrics::Metrics;

/// The longest a refused job is held before its refusal is answered.
pub const MAX_HOLD: Duration = Duration::from_secs(1);
/// The weight of the newest measurement in the running average (1/8): a
/// few hashes move it, one odd one does not.
const AVERAGE_WEIGHT: u32 = 8;

type Job = Box<dyn FnOnce() + Send>;

/// Why a job did not run.
#[derive(Debug, PartialEq, Eq)]
pub enum QueueError {
    /// Its expected wait was over the budget: try again after this long.
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
    /// Each address's waiting jobs with the time each was queued, oldest
    /// first; only addresses with some.
    waiting: HashMap<IpAddr, VecDeque<(Job, Instant)>>,
    /// Addresses whose first waiting job arrived while they had none: served
    /// before `turns`.
    fresh: VecDeque<IpAddr>,
    /// Addresses already taking turns, in the order they are served.
    turns: VecDeque<IpAddr>,
    queued: usize,
    running: usize,
    /// The recent average time one job takes.
    average: Duration,
    closed: bool,
}

impl State {
    /// The next job: the oldest job of the first fresh address, or else of
    /// the first address taking turns; that address goes to the back of
    /// the turns if it has more.
    fn next_job(&mut self) -> Option<(Job, Instant)> {
        let client = self.fresh.pop_front().or_else(|| self.turns.pop_front())?;
        let jobs = self.waiting.get_mut(&client)?;
        let job = jobs.pop_front();
        if jobs.is_empty() {
            self.waiting.remove(&client);
        } else {
            self.turns.push_back(client);
        }
        self.queued -= 1;
        job
    }

    /// Jobs that would run before a new one from `client`, and how many
    /// addresses are waiting: a fresh address waits for those running and
    /// the other fresh addresses; one already waiting, for its own jobs and
    /// from every other address as many as get a turn before the new job's
    /// round (its own count plus one).
    fn ahead_of_new(&self, client: IpAddr) -> (usize, usize) {
        let addresses = self.fresh.len() + self.turns.len();
        let mine = self.waiting.get(&client).map_or(0, VecDeque::len);
        if mine == 0 {
            return (self.running + self.fresh.len(), addresses);
        }
        let others: usize = self
            .waiting
            .iter()
            .filter(|(address, _)| **address != client)
            .map(|(_, jobs)| jobs.len().min(mine + 1))
            .sum();
        (self.running + mine + others, addresses)
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
    /// budget, after holding it as the module documentation says.
    pub fn run<T: Send + 'static>(
        &self,
        client: IpAddr,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, QueueError> {
        let shared = &*self.shared;
        let (answer, answered) = mpsc::sync_channel(1);
        let mut state = lock(&shared.state);
        let (ahead, addresses_waiting) = state.ahead_of_new(client);
        let expected_wait = state.average.saturating_mul(ahead as u32) / shared.workers as u32;
        if expected_wait > shared.budget {
            // This address's next turn comes after one job of every other
            // waiting address (and its own next one) has run.
            let next_turn =
                state.average.saturating_mul(addresses_waiting as u32 + 1) / shared.workers as u32;
            drop(state);
            thread::sleep(next_turn.min(MAX_HOLD));
            return Err(QueueError::OverBudget { expected_wait });
        }
        let mine = state.waiting.entry(client).or_default();
        let job: Job = Box::new(move || {
            let _ = answer.send(job());
        });
        mine.push_back((job, Instant::now()));
        if mine.len() == 1 {
            state.fresh.push_back(client);
        }
        state.queued += 1;
        drop(state);
        shared.work.notify_one();
        answered.recv().map_err(|_| QueueError::WorkerStopped)
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
    loop {
        let mut state = lock(&shared.state);
        let (job, queued_at) = loop {
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
        let _ = catch_unwind(AssertUnwindSafe(job));
        let took = started.elapsed();
        if let Some(metrics) = &shared.metrics {
            metrics.hash_waited(started.duration_since(queued_at));
            metrics.hashed(took);
        }

        let mut state = lock(&shared.state);
        state.running -= 1;
        state.average = (state.average.saturating_mul(AVERAGE_WEIGHT - 1)).saturating_add(took)
            / AVERAGE_WEIGHT;
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
            // answered at once.
            assert!(held >= Duration::from_millis(20), "{held:?}");
            assert!(held <= MAX_HOLD + Duration::from_millis(500), "{held:?}");
        }
    }

    #[test]
    fn addresses_take_turns() {
        // One worker; address 1 queues eight jobs, then address 2 queues
        // one: it runs right after the job running, not after eight.
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
        assert!(before_lone <= 2, "{before_lone} of the flood ran first");
    }

    #[test]
    fn the_average_follows_what_jobs_take() {
        let queue = HashQueue::new(1, Duration::from_secs(60), Duration::from_secs(1), None);
        for _ in 0..40 {
            queue.run(ip(1), sleeper(5)).unwrap();
        }
        assert!(
            queue.average() < Duration::from_millis(50),
            "{:?}",
            queue.average()
        );
    }
}
