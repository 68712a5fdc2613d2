//! Which cases may be played at once (`--jobs`): each claims the resources it plays on, and shares the one its probe reads; cases whose claims clash wait for each other.
//!
//! A resource is a channel with its parameters' values: what a write changes and a broadcast
//! reaches, as the spec describes a server (a broadcast goes to the clients of the same
//! parameters only). Two cases on different resources cannot see each other's messages, so
//! each is judged as if it had been played alone.

use std::collections::BTreeMap;

use crate::case::{Case, Endpoint, Step};
use crate::target::Route;

/// A channel and its parameters' values.
type Resource = (String, BTreeMap<String, String>);

fn resource(endpoint: &Endpoint) -> Resource {
    (endpoint.channel.clone(), endpoint.params.clone())
}

/// The resources a case connects to: its own endpoint, those its scenario's clients join,
/// and those of the cases played before and alongside it.
fn played_on(case: &Case) -> Vec<Resource> {
    let mut own = vec![resource(&case.endpoint)];
    for step in &case.steps {
        if let Step::Join { params, .. } = step {
            own.push((case.endpoint.channel.clone(), params.clone()));
        }
    }
    for other in case.alongside.iter().chain(&case.before) {
        own.extend(played_on(other));
    }
    own
}

/// What a case needs of the server while it is played.
pub(super) struct Claim {
    /// Resources it writes to, itself, through the clients of its scenario, or the cases
    /// played before and alongside it: what it sends there others would see.
    own: Vec<Resource>,
    /// Resources it only connects to: the one its probe (and, below the messages, its
    /// bystander) reads after and through it, and its own when it sends no message (a bare
    /// handshake, a drop right after it); none on a channel where no client hears of another.
    /// Readers may share a resource.
    read: Vec<Resource>,
    /// A case of scale is played alone: the time the server takes over it is what is judged.
    alone: bool,
}

impl Claim {
    pub fn of(case: &Case, route: &Route) -> Claim {
        let probed = resource(&route.probe_endpoint());
        let sends = !case.steps.is_empty() || !case.alongside.is_empty() || !case.before.is_empty();
        let (own, mut read) = match sends {
            true => (played_on(case), vec![probed]),
            false => (Vec::new(), vec![probed, resource(&case.endpoint)]),
        };
        // Where the server pushes no client what another did, what a case writes never
        // reaches a connection that sends nothing: the probe, or a case that only connects.
        if route.channel.private() {
            read.clear();
        }
        Claim {
            own,
            read,
            alone: case.scale().is_some(),
        }
    }

    /// Whether the case is played with no other at once.
    pub fn alone(&self) -> bool {
        self.alone
    }

    /// Whether the case only connects: it changes nothing another case would see, so it may
    /// be played before cases drawn ahead of it.
    pub fn reads_only(&self) -> bool {
        self.own.is_empty() && !self.alone
    }

    /// Whether the two cases cannot be played at once.
    pub fn clashes(&self, other: &Claim) -> bool {
        let touches = |a: &Claim, b: &Claim| {
            a.own
                .iter()
                .any(|r| b.own.contains(r) || b.read.contains(r))
        };
        self.alone || other.alone || touches(self, other) || touches(other, self)
    }
}

/// Which of the cases waiting, in the order they were drawn, may start beside those being
/// played: the first that clashes with none of them, nor with a case waiting before it (the
/// cases that write to a resource are played in the order they were drawn). A case that only
/// connects may go ahead of those waiting, but never of a case of scale.
pub(super) fn first_ready(playing: &[&Claim], waiting: &[&Claim]) -> Option<usize> {
    (0..waiting.len()).find(|&i| {
        let claim = waiting[i];
        let held_back = |before: &&Claim| match claim.reads_only() {
            true => before.alone,
            false => before.clashes(claim),
        };
        !playing.iter().any(|other| other.clashes(claim)) && !waiting[..i].iter().any(held_back)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Payload;

    fn claim(params: &[(&str, &str)], probed: &str, alone: bool) -> Claim {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        Claim {
            own: vec![("prompt".into(), map(params))],
            read: vec![("prompt".into(), map(&[("id", probed)]))],
            alone,
        }
    }

    /// A case that sends nothing on `params`: it only connects there.
    fn reader(params: &[(&str, &str)], probed: &str) -> Claim {
        let Claim { own, mut read, .. } = claim(params, probed, false);
        read.extend(own);
        Claim {
            own: Vec::new(),
            read,
            alone: false,
        }
    }

    #[test]
    fn cases_that_send_nothing_share_a_resource_but_not_with_one_that_writes_there() {
        let handshake = reader(&[("id", "summary")], "greeting");
        let another = reader(&[("id", "summary")], "greeting");
        assert!(!handshake.clashes(&another));
        // A writer there would reach the reader's connection.
        let writer = claim(&[("id", "summary")], "greeting", false);
        assert!(handshake.clashes(&writer));
        assert!(writer.clashes(&handshake));
        assert!(!handshake.clashes(&claim(&[("id", "cycle")], "greeting", false)));
        // A case of scale is still played alone.
        assert!(handshake.clashes(&claim(&[("id", "cycle")], "greeting", true)));
        // One that only connects goes ahead of a writer waiting for a reader there, but
        // not of a case of scale; writers keep their order.
        let playing = reader(&[("id", "summary")], "greeting");
        assert_eq!(first_ready(&[&playing], &[&writer, &another]), Some(1));
        let scale = claim(&[("id", "cycle")], "greeting", true);
        assert_eq!(first_ready(&[&playing], &[&scale, &another]), None);
        let later = claim(&[("id", "summary")], "greeting", false);
        assert_eq!(first_ready(&[&playing], &[&writer, &later]), None);
    }

    #[test]
    fn where_no_client_hears_of_another_a_writer_shares_its_resource_with_readers() {
        let spec = crate::spec::Spec::parse(crate::PROMPT_MANAGER_SPEC, "prompt-manager.yaml")
            .expect("the bundled spec");
        let target = crate::target::Target::resolve("ws://127.0.0.1:9", Some(&spec))
            .expect("a target of the bundled spec");
        let route = |id: &str| {
            let found = target.routes.iter().find(|r| r.channel.id == id);
            found.expect("a channel of the spec")
        };
        let cases = |route: &Route| {
            let endpoint = route.probe_endpoint();
            let writes = Case::messages(endpoint.clone(), vec![Payload::Text("x".into())]);
            (Case::scenario(&endpoint), writes)
        };
        // `echo` broadcasts nothing: a write there reaches no other connection.
        let echo = route("echo");
        let (reader, writer) = cases(echo);
        let (reader, writer) = (Claim::of(&reader, echo), Claim::of(&writer, echo));
        assert!(!reader.clashes(&writer) && !writer.clashes(&reader));
        // Two writers there still wait for each other: what one changes, the other may read.
        assert!(writer.clashes(&Claim::of(&cases(echo).1, echo)));
        // A prompt's editors hear of each other's updates.
        let prompt = route("prompt");
        let (reader, writer) = cases(prompt);
        assert!(Claim::of(&reader, prompt).clashes(&Claim::of(&writer, prompt)));
    }

    #[test]
    fn cases_on_different_resources_share_the_probed_one_but_not_their_own() {
        let summary = claim(&[("id", "summary")], "greeting", false);
        let cycle = claim(&[("id", "cycle")], "greeting", false);
        assert!(!summary.clashes(&cycle));
        // Two cases on one resource would see each other's broadcasts.
        assert!(summary.clashes(&claim(&[("id", "summary")], "greeting", false)));
        // A case on the probed resource would meet every other case's probe.
        assert!(summary.clashes(&claim(&[("id", "greeting")], "greeting", false)));
        assert!(claim(&[("id", "greeting")], "greeting", false).clashes(&cycle));
        // A case of scale is played alone.
        assert!(summary.clashes(&claim(&[("id", "cycle")], "greeting", true)));
    }

    #[test]
    fn a_case_held_back_by_a_clash_holds_back_only_the_cases_that_clash_with_it() {
        let playing = claim(&[("id", "summary")], "greeting", false);
        let same = claim(&[("id", "summary")], "greeting", false);
        let other = claim(&[("id", "cycle")], "greeting", false);
        let after_same = claim(&[("id", "summary")], "greeting", false);
        // The second case on `summary` waits; the one on `cycle` goes ahead of it.
        assert_eq!(first_ready(&[&playing], &[&same, &other]), Some(1));
        // A case on `summary` drawn later does not overtake the one waiting before it.
        assert_eq!(first_ready(&[], &[&same, &after_same]), Some(0));
        assert_eq!(first_ready(&[&other], &[&same, &after_same]), Some(0));
        // A case of scale waiting holds back every case drawn after it.
        let scale = claim(&[("id", "cycle")], "greeting", true);
        assert_eq!(first_ready(&[&playing], &[&scale, &other]), None);
        assert_eq!(first_ready(&[&playing], &[]), None);
    }
}
