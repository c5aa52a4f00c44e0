//! The order QEMU iterates a `QDict` in (qobject/qdict.c): bucket by
//! bucket, which is the order QMP replies list their members in and
//! `-device` applies its properties in.

/// `QDICT_BUCKET_MAX` (include/qobject/qdict.h).
const QDICT_BUCKET_MAX: u32 = 512;

/// The `QDict` hash bucket of `key`: `tdb_hash(key) % 512`, as in
/// `qobject/qdict.c`.
pub(crate) fn qdict_bucket(key: &str) -> u32 {
    let bytes = key.as_bytes();
    // C: `unsigned value = 0x238F13AF * strlen(name)`, all arithmetic mod 2^32.
    let mut value = 0x238F_13AFu32.wrapping_mul(bytes.len() as u32);
    for (i, &c) in bytes.iter().enumerate() {
        let shift = ((i as u64 * 5) % 24) as u32;
        value = value.wrapping_add(u32::from(c) << shift);
    }
    1_103_515_243u32.wrapping_mul(value).wrapping_add(12345) % QDICT_BUCKET_MAX
}
