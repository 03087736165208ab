//! The clock every decision reads, injected so that plans and drivers can be tested at chosen
//! moments. Production uses [`SystemClock`]; nothing in a driver calls `SystemTime::now()`.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

pub trait Clock: Send + Sync {
    /// Wall-clock time (token expiry, creation windows, status timestamps).
    fn now(&self) -> SystemTime;
    /// Monotonic time (schedules within this process).
    fn instant(&self) -> Instant;
}

/// The machine's clocks.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told (tests).
pub struct ManualClock {
    start: (SystemTime, Instant),
    offset: Mutex<Duration>,
}

impl ManualClock {
    pub fn at(now: SystemTime) -> ManualClock {
        ManualClock {
            start: (now, Instant::now()),
            offset: Mutex::new(Duration::ZERO),
        }
    }

    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }

    fn offset(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.start.0 + self.offset()
    }

    fn instant(&self) -> Instant {
        self.start.1 + self.offset()
    }
}

/// RFC 3339 in UTC, as Kubernetes and the API write moments.
pub fn rfc3339(time: SystemTime) -> String {
    jiff::Timestamp::try_from(time)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    text.parse::<jiff::Timestamp>().ok().map(SystemTime::from)
}
