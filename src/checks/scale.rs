//! Checks of what input costs the server as it grows: time against a header's size, memory against a message's bytes.

use super::{failure, Failure, Observed};
use crate::case::{bytes, Step};
use crate::transcript::{Curve, FloodRecord};

/// A server's time on a rung below this is noise: the curve is judged on slower rungs.
const NOTICEABLE: f64 = 0.05;
/// The time the largest rung must cost for growth to matter to anyone.
const SLOW: f64 = 0.5;
/// Growth per doubling of the size that no linear parser shows (a quadratic one shows 4).
const SUPERLINEAR: f64 = 2.8;
/// Past this, a message with no limit known is one no server should keep (16 MiB).
const NO_LIMIT_KNOWN: u64 = 16 << 20;
/// Memory the server may keep for a message, per byte sent, before it is out of proportion,
/// and the least memory that counts as such.
const PER_BYTE: u64 = 4;
const KEPT_AT_LEAST: u64 = 64 << 20;

/// Where the server's time more than doubles twice running as the size doubles, ending on a
/// rung that costs at least `SLOW`: the rungs that show it.
fn superlinear(curve: &Curve) -> Option<usize> {
    let p = &curve.points;
    (2..p.len()).rev().find(|&i| {
        // Without the target's CPU, a rung with no answer shows only how long wsfuzz waited.
        if p[i].silent && !curve.cpu {
            return false;
        }
        let (a, b, c) = (p[i - 2].seconds, p[i - 1].seconds, p[i].seconds);
        c >= SLOW && b >= NOTICEABLE && b >= SUPERLINEAR * a && c >= SUPERLINEAR * b
    })
}

fn judged_curve(o: &Observed, dripped: bool) -> Option<String> {
    let stretch = o.case.handshake.as_ref()?.stretch.as_ref()?;
    if stretch.drip.is_some() != dripped {
        return None;
    }
    let curve = o.transcript.wire.as_ref()?.curve.as_ref()?;
    let at = superlinear(curve)?;
    let grew = curve.points[at].seconds / curve.points[at - 1].seconds.max(1e-3);
    let measure = if curve.cpu {
        "the target's CPU"
    } else {
        "time to answer"
    };
    Some(format!(
        "{} ({measure}): superlinear, ×{grew:.1} as the size doubles, for {}",
        curve.text(at + 1),
        stretch.shape()
    ))
}

pub(super) fn header_time_linear(o: &Observed) -> Option<Failure> {
    let actual = judged_curve(o, false)?;
    failure(
        &super::HEADER_TIME_LINEAR,
        None,
        "the server's time grows at most linearly with a header's size",
        actual,
    )
}

pub(super) fn drip_time_linear(o: &Observed) -> Option<Failure> {
    let actual = judged_curve(o, true)?;
    failure(
        &super::DRIP_TIME_LINEAR,
        None,
        "the server's time grows at most linearly with a request sent in small writes",
        actual,
    )
}

fn flood<'o>(o: &'o Observed) -> Option<&'o FloodRecord> {
    let record = o.transcript.wire.as_ref()?.flood.as_ref()?;
    // The server ended the message: it kept what it chose to, and no more.
    record.ended.is_none().then_some(record)
}

/// The flood's own account: `2000000 fragments (14 MiB written, 2 MiB of message)`.
fn sent(record: &FloodRecord) -> String {
    format!(
        "{} fragments ({} written, {} of message) in {:.1} s",
        record.fragments,
        bytes(record.sent),
        bytes(record.payload),
        record.seconds
    )
}

pub(super) fn message_size_limited(o: &Observed) -> Option<Failure> {
    let record = flood(o)?;
    // A spec's size limit is what the server promises to take, not where it must stop; the
    // server's own limit is unknown, so past 16 MiB a message held in memory is one too many.
    let kept = record.kept?;
    if record.payload <= NO_LIMIT_KNOWN || kept < NO_LIMIT_KNOWN {
        return None;
    }
    let actual = format!(
        "{}, with no close; the target's memory grew by {} meanwhile",
        sent(record),
        bytes(kept)
    );
    failure(
        &super::MESSAGE_SIZE_LIMITED,
        flood_step(o),
        format!(
            "a close (1009) before the target holds {} of one message",
            bytes(NO_LIMIT_KNOWN)
        ),
        actual,
    )
}

pub(super) fn size_limit_enforced(o: &Observed) -> Option<Failure> {
    let record = flood(o)?;
    if record.kept.is_some() || record.payload <= NO_LIMIT_KNOWN {
        return None;
    }
    failure(
        &super::SIZE_LIMIT_ENFORCED,
        flood_step(o),
        format!(
            "a close (1009) before a message passes {}",
            bytes(NO_LIMIT_KNOWN)
        ),
        format!("{}, taken with no close", sent(record)),
    )
}

pub(super) fn memory_proportionate(o: &Observed) -> Option<Failure> {
    let record = flood(o)?;
    let kept = record.kept?;
    if kept < KEPT_AT_LEAST || kept < PER_BYTE * record.sent {
        return None;
    }
    failure(
        &super::MEMORY_PROPORTIONATE,
        flood_step(o),
        format!("at most {PER_BYTE} bytes of memory kept per byte sent, or a close"),
        format!(
            "{}, with no close: the target's memory grew by {} (×{:.0} the bytes sent)",
            sent(record),
            bytes(kept),
            kept as f64 / record.sent.max(1) as f64
        ),
    )
}

fn flood_step(o: &Observed) -> Option<usize> {
    o.case
        .steps
        .iter()
        .position(|s| matches!(s, Step::Flood(_)))
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::Point;

    fn curve(seconds: &[f64]) -> Curve {
        Curve {
            cpu: true,
            points: seconds
                .iter()
                .enumerate()
                .map(|(i, &seconds)| Point {
                    size: 1024 << i,
                    seconds,
                    answer: "HTTP 101".into(),
                    ended: false,
                    silent: false,
                })
                .collect(),
        }
    }

    #[test]
    fn quadratic_growth_is_superlinear_and_linear_growth_is_not() {
        // Quadratic, as a backtracking pattern: ×4 per doubling, up to a second.
        assert_eq!(
            superlinear(&curve(&[0.001, 0.005, 0.02, 0.08, 0.32, 1.3])),
            Some(5)
        );
        // Linear and slow: ×2 per doubling.
        assert_eq!(superlinear(&curve(&[0.1, 0.2, 0.4, 0.8, 1.6])), None);
        // Quadratic but fast throughout: nobody waits.
        assert_eq!(superlinear(&curve(&[0.001, 0.004, 0.016, 0.064])), None);
        // Noise at the bottom is no growth.
        assert_eq!(superlinear(&curve(&[0.0, 0.01, 0.0, 0.01, 0.02])), None);
        // One jump (a collection pause) is not a trend.
        assert_eq!(superlinear(&curve(&[0.1, 0.2, 0.9, 1.0])), None);
    }
}
