//! The log of the rebalance scenario's handler calls, and what it shows: the records nobody
//! handled, every break of order, and each member's tally.
//!
//! In order, under at-least-once: a member's successes for one key come in runs of consecutive
//! numbers. A run may start at n (the member's first record of the key, or a jump back or ahead
//! when a rebalance restarts the partition from its last commit) only if every number below n
//! was already handled by some member, since a commit lies only past handled records. A record
//! the handler refused is the next one its member tries on that partition. Duplicates, within a
//! member (a restart) or across members, are allowed and counted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Member {
    A,
    B,
    C,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Handled,
    Refused,
    /// Member C's calls hang until it crashes.
    Hung,
}

/// One handler call; the log holds them in the order they finished (a partition's never overlap),
/// hung ones as they began.
#[derive(Debug, Clone, Copy)]
pub(super) struct Call {
    pub(super) member: Member,
    pub(super) key: u32,
    pub(super) seq: u32,
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) outcome: Outcome,
}

#[derive(Default)]
pub(super) struct Calls {
    pub(super) log: Mutex<Vec<Call>>,
    /// Records refused once already: their next attempt succeeds.
    pub(super) refused: Mutex<HashSet<(u32, u32)>>,
}

impl Calls {
    pub(super) fn snapshot(&self) -> Vec<Call> {
        self.log.lock().unwrap().clone()
    }

    pub(super) fn unique_successes(&self) -> usize {
        self.log.lock().unwrap().iter().filter(|c| c.outcome == Outcome::Handled).map(|c| (c.key, c.seq)).collect::<HashSet<_>>().len()
    }
}

#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) successes: usize,
    pub(super) refusals: usize,
    hung: usize,
    /// Runs of a key that started past 0: the member took the key's partition over mid-stream.
    pub(super) takeovers: usize,
    /// Runs that started at or before the member's previous number: a restart from the last commit.
    rewinds: usize,
    /// Runs that started past the previous number + 1: others handled what lies between.
    skips: usize,
}

/// Key → the numbers nobody handled, each with the calls it had.
pub(super) type Missing = BTreeMap<u32, Vec<(u32, Vec<(Member, Outcome)>)>>;

/// What the log shows: the records nobody handled, every break of order, and each member's tally.
pub(super) struct Findings {
    pub(super) missing: Missing,
    pub(super) disorder: Vec<String>,
    pub(super) members: BTreeMap<Member, Tally>,
    pub(super) unique: usize,
    pub(super) successes: usize,
    /// Records handled by more than one member.
    pub(super) shared: usize,
}

/// `calls` of a run that published records 0..per_key of keys 0..keys.
pub(super) fn examine(calls: &[Call], keys: u32, per_key: u32) -> Findings {
    let mut handled_by: Vec<Vec<Vec<Member>>> = vec![vec![Vec::new(); per_key as usize]; keys as usize];
    // Per key: every number below it was handled.
    let mut prefix = vec![0u32; keys as usize];
    let mut last: HashMap<(Member, u32), u32> = HashMap::new();
    // A member's refused record, by partition, until its next call on that partition.
    let mut refused: HashMap<(Member, i32), i64> = HashMap::new();
    let mut partition_of: HashMap<u32, i32> = HashMap::new();
    let mut members: BTreeMap<Member, Tally> = BTreeMap::new();
    let mut disorder = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        let Call { member, key, seq, partition, offset, outcome } = *call;
        let tally = members.entry(member).or_default();
        let home = *partition_of.entry(key).or_insert(partition);
        if home != partition {
            disorder.push(format!("call {i}: key {key} came from partitions {home} and {partition}"));
        }
        if let Some(retry) = refused.remove(&(member, partition))
            && retry != offset
        {
            disorder
                .push(format!("call {i}: {member:?} refused offset {retry} of partition {partition}, then tried offset {offset} first"));
        }
        match outcome {
            Outcome::Handled => {}
            Outcome::Refused => {
                tally.refusals += 1;
                refused.insert((member, partition), offset);
                continue;
            }
            Outcome::Hung => {
                tally.hung += 1;
                continue;
            }
        }
        tally.successes += 1;
        match last.insert((member, key), seq) {
            Some(previous) if seq == previous + 1 => {}
            previous => {
                match previous {
                    None if seq > 0 => tally.takeovers += 1,
                    Some(previous) if seq <= previous => tally.rewinds += 1,
                    Some(_) => tally.skips += 1,
                    None => {}
                }
                let below = prefix[key as usize];
                if below < seq {
                    disorder.push(format!(
                        "call {i}: {member:?} took key {key} at {seq} (its previous: {previous:?}) before {below} was handled"
                    ));
                }
            }
        }
        handled_by[key as usize][seq as usize].push(member);
        let prefix = &mut prefix[key as usize];
        while *prefix < per_key && !handled_by[key as usize][*prefix as usize].is_empty() {
            *prefix += 1;
        }
    }
    let mut missing = Missing::new();
    for (key, seq) in (0..keys).flat_map(|key| (0..per_key).map(move |seq| (key, seq))) {
        if handled_by[key as usize][seq as usize].is_empty() {
            let tried = calls.iter().filter(|c| (c.key, c.seq) == (key, seq)).map(|c| (c.member, c.outcome)).collect();
            missing.entry(key).or_default().push((seq, tried));
        }
    }
    let records = handled_by.iter().flatten();
    let unique = records.clone().filter(|by| !by.is_empty()).count();
    let shared = records.filter(|by| by.iter().any(|m| *m != by[0])).count();
    Findings { missing, disorder, unique, successes: members.values().map(|t| t.successes).sum(), shared, members }
}
