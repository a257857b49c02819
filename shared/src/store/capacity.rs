//! What a run's DynamoDB calls cost in the units AWS bills: every call asks
//! for `ReturnConsumedCapacity: TOTAL` and adds what it was charged to the
//! store's meter. Exact on AWS, except for a conditional write whose
//! condition failed (charged, but the SDK's error does not carry the
//! figure); moto and other local servers report fixed stand-in values.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::types::ConsumedCapacity;

/// Capacity units consumed, summed.
#[derive(Debug, Default)]
pub struct CapacityMeter {
    /// Read units, in thousandths.
    read_milli: AtomicU64,
    /// Write units, in thousandths.
    write_milli: AtomicU64,
}

/// A meter's reading.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ConsumedUnits {
    /// Read capacity units.
    pub read: f64,
    /// Write capacity units.
    pub write: f64,
}

impl CapacityMeter {
    /// Adds what a read call reported.
    pub fn read<'a>(&self, consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        add(&self.read_milli, consumed);
    }

    /// Adds what a write call reported.
    pub fn write<'a>(&self, consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        add(&self.write_milli, consumed);
    }

    /// The units consumed so far.
    pub fn reading(&self) -> ConsumedUnits {
        let units = |milli: &AtomicU64| milli.load(Ordering::Relaxed) as f64 / 1000.0;
        ConsumedUnits {
            read: units(&self.read_milli),
            write: units(&self.write_milli),
        }
    }
}

fn add<'a>(total: &AtomicU64, consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) {
    let units: f64 = consumed
        .into_iter()
        .filter_map(|c| c.capacity_units)
        .filter(|u| u.is_finite() && *u > 0.0)
        .sum();
    total.fetch_add((units * 1000.0).round() as u64, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_summed_to_the_thousandth() {
        let meter = CapacityMeter::default();
        let half = ConsumedCapacity::builder().capacity_units(0.5).build();
        let one = ConsumedCapacity::builder().capacity_units(1.0).build();
        meter.read([&half, &half, &one]);
        meter.write(Some(&one));
        meter.write(None);
        assert_eq!(
            meter.reading(),
            ConsumedUnits {
                read: 2.0,
                write: 1.0
            }
        );
    }
}
