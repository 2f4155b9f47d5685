//! One live document: its yrs `Doc` and the awareness states of the people editing it.
//!
//! A `Room` is plain data with synchronous methods. It knows nothing of sockets, tasks, storage
//! or HTTP: the room task in [`crate::rooms`] feeds it decoded messages and decides what to
//! persist and whom to tell.

use std::collections::HashSet;

use manifesto_protocol::{nested_content, yrs, FrameLimits};
use thiserror::Error;
use yrs::branch::{Branch, BranchPtr};
use yrs::sync::{Awareness, AwarenessUpdate};
use yrs::types::xml::XmlOut;
use yrs::types::TypeRef;
use yrs::updates::decoder::Decode;
use yrs::{
    BranchID, ClientID, Doc, ReadTxn, StateVector, Transact, TransactionMut, Update, Xml,
    XmlElementRef, ID,
};

use crate::store::StoredDocument;

/// An update the document refused.
#[derive(Debug, Error)]
pub enum RoomError {
    /// yrs could not integrate the update.
    #[error("update rejected: {0}")]
    UpdateRejected(String),
    /// The update was applied but breaks a rule of Manifesto documents (too deeply nested
    /// shared types, subdocuments, nested types other than XML elements). The document now
    /// holds it, so the caller must drop this room and reload the document.
    #[error("update refused: {0}")]
    Refused(&'static str),
    /// Stored bytes could not be decoded into the document.
    #[error("stored update {index} is undecodable: {reason}")]
    StoredUpdateUndecodable { index: usize, reason: String },
}

/// The v1 encoding of an update that changes nothing: no structs, empty delete set.
pub(crate) const EMPTY_UPDATE_V1: [u8; 2] = [0, 0];

/// Deepest nesting of shared types accepted, counting the root. A Manifesto needs about six
/// (fragment, list, item, paragraph, text); yrs deletes and garbage-collects nested types
/// recursively, and overflows a 2 MiB stack a few thousand levels down.
pub const MAX_TYPE_DEPTH: usize = 32;

/// One live document and its presence states.
pub struct Room {
    awareness: Awareness,
}

impl Room {
    /// An empty document. Indices into its texts count UTF-16 code units, as Yjs and the
    /// browser do, so offsets computed by the server (comment anchors, edits) match theirs.
    pub fn new() -> Room {
        let options = yrs::Options {
            offset_kind: yrs::OffsetKind::Utf16,
            ..yrs::Options::default()
        };
        Room {
            awareness: Awareness::new(Doc::with_options(options)),
        }
    }

    /// The document as stored: its snapshot, then every logged update in order.
    pub fn from_stored(stored: &StoredDocument) -> Result<Room, RoomError> {
        let mut room = Room::new();
        let parts = stored.snapshot.iter().chain(stored.updates.iter());
        for (index, bytes) in parts.enumerate() {
            let update =
                Update::decode_v1(bytes).map_err(|e| RoomError::StoredUpdateUndecodable {
                    index,
                    reason: e.to_string(),
                })?;
            room.apply_update(update)?;
        }
        Ok(room)
    }

    /// Integrates `update` and returns what it changed, encoded by yrs (v1), or `None` when the
    /// update brought nothing new (or only blocks that wait for missing predecessors).
    ///
    /// On [`RoomError::Refused`] the document already holds the refused content: drop the room.
    pub fn apply_update(&mut self, update: Update) -> Result<Option<Vec<u8>>, RoomError> {
        let mut txn = self.awareness.doc().transact_mut();
        txn.apply_update(update)
            .map_err(|e| RoomError::UpdateRejected(e.to_string()))?;
        let delta = txn.encode_update_v1();
        if delta == EMPTY_UPDATE_V1 {
            return Ok(None);
        }
        check_nesting(&txn, &delta)?;
        Ok(Some(delta))
    }

    /// The document's state vector.
    pub fn state_vector(&self) -> StateVector {
        self.awareness.doc().transact().state_vector()
    }

    /// Everything the document has that a peer with `state_vector` lacks (v1).
    pub fn diff(&self, state_vector: &StateVector) -> Vec<u8> {
        self.awareness.doc().transact().encode_diff_v1(state_vector)
    }

    /// The whole document as one update (v1), for snapshots.
    pub fn snapshot(&self) -> Vec<u8> {
        self.diff(&StateVector::default())
    }

    /// The underlying yrs document.
    pub fn doc(&self) -> &Doc {
        self.awareness.doc()
    }

    /// Applies an awareness update and returns the entries that changed anything, to be relayed
    /// to everyone; `None` when nothing changed.
    pub fn apply_awareness(&mut self, update: AwarenessUpdate) -> Option<AwarenessUpdate> {
        let summary = self.awareness.apply_update_summary(update).ok()??;
        self.awareness
            .update_with_clients(summary.all_changes())
            .ok()
    }

    /// Marks the states of `client_ids` as gone and returns the update that tells everyone.
    pub fn remove_awareness(&mut self, client_ids: &HashSet<ClientID>) -> Option<AwarenessUpdate> {
        let mut removed = Vec::new();
        for &id in client_ids {
            // Only ids this room has seen; removing an unknown id would invent a state for it.
            if self.awareness.meta(id).is_some() {
                self.awareness.remove_state(id);
                removed.push(id);
            }
        }
        if removed.is_empty() {
            return None;
        }
        self.awareness.update_with_clients(removed).ok()
    }

    /// Every present awareness state, or `None` when nobody has published one.
    pub fn awareness_state(&self) -> Option<AwarenessUpdate> {
        let update = self.awareness.update().ok()?;
        (!update.clients.is_empty()).then_some(update)
    }
}

/// Checks the shared types `delta` (just integrated by `txn`) added: only XML elements and
/// texts may nest, at most [`MAX_TYPE_DEPTH`] deep, and no subdocuments.
fn check_nesting(txn: &TransactionMut, delta: &[u8]) -> Result<(), RoomError> {
    let limits = FrameLimits {
        max_frame_bytes: usize::MAX,
        ..FrameLimits::default()
    };
    let nested =
        nested_content(delta, &limits).map_err(|_| RoomError::Refused("undecodable delta"))?;
    if nested.n_subdocs > 0 {
        return Err(RoomError::Refused("subdocuments are not supported"));
    }
    for (client, clock) in nested.type_items {
        let id = ID::new(ClientID::new(client), clock);
        // An item deleted and collected in the same transaction has no branch left.
        let Some(branch) = BranchID::get_nested(txn, &id) else {
            continue;
        };
        if !matches!(
            branch.type_ref(),
            TypeRef::XmlElement(_) | TypeRef::XmlText | TypeRef::XmlHook
        ) {
            return Err(RoomError::Refused(
                "only XML elements and texts may be nested",
            ));
        }
        let mut depth = 1;
        let mut current = xml_parent(branch);
        while let Some(parent) = current {
            depth += 1;
            if depth > MAX_TYPE_DEPTH {
                return Err(RoomError::Refused("shared types nested too deeply"));
            }
            current = xml_parent(parent);
        }
    }
    Ok(())
}

/// The XML type `branch` is nested in, if any (a root, or a non-XML parent, ends the walk).
fn xml_parent(branch: BranchPtr) -> Option<BranchPtr> {
    let parent = XmlElementRef::from(branch).parent()?;
    let parent: &Branch = match &parent {
        XmlOut::Element(element) => element.as_ref(),
        XmlOut::Fragment(fragment) => fragment.as_ref(),
        XmlOut::Text(text) => text.as_ref(),
    };
    Some(BranchPtr::from(parent))
}

impl Default for Room {
    fn default() -> Self {
        Room::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{GetString, Text};

    fn edit(text: &str) -> Update {
        let doc = Doc::new();
        let t = doc.get_or_insert_text("t");
        let mut txn = doc.transact_mut();
        t.push(&mut txn, text);
        Update::decode_v1(&txn.encode_update_v1()).expect("own update decodes")
    }

    #[test]
    fn apply_returns_delta_once() {
        let mut room = Room::new();
        let update = edit("hello");
        let bytes = update_bytes(&update);
        assert!(room.apply_update(update).expect("apply").is_some());
        let again = Update::decode_v1(&bytes).expect("decode");
        assert_eq!(room.apply_update(again).expect("apply again"), None);
        let t = room.doc().get_or_insert_text("t");
        assert_eq!(t.get_string(&room.doc().transact()), "hello");
    }

    fn update_bytes(update: &Update) -> Vec<u8> {
        use yrs::updates::encoder::Encode;
        update.encode_v1()
    }

    #[test]
    fn from_stored_replays_snapshot_and_log() {
        let mut room = Room::new();
        room.apply_update(edit("a")).expect("apply");
        let stored = StoredDocument {
            snapshot: Some(room.snapshot()),
            updates: vec![update_bytes(&edit("b"))],
            next_seq: 5,
        };
        let loaded = Room::from_stored(&stored).expect("load");
        let t = loaded.doc().get_or_insert_text("t");
        assert_eq!(t.get_string(&loaded.doc().transact()).len(), 2);
    }

    /// An update adding `depth` XML elements, each inside the one before, under root "x".
    fn nested_elements(depth: usize) -> Update {
        use yrs::{XmlElementPrelim, XmlFragment};
        let doc = Doc::new();
        let root = doc.get_or_insert_xml_fragment("x");
        let mut txn = doc.transact_mut();
        let mut parent = root.push_back(&mut txn, XmlElementPrelim::empty("level"));
        for _ in 1..depth {
            parent = parent.push_back(&mut txn, XmlElementPrelim::empty("level"));
        }
        Update::decode_v1(&txn.encode_update_v1()).expect("own update decodes")
    }

    #[test]
    fn prosemirror_shaped_nesting_is_accepted() {
        let mut room = Room::new();
        // fragment > element x 5 > text: a list item paragraph is about this deep.
        assert!(room
            .apply_update(nested_elements(5))
            .expect("accepted")
            .is_some());
        assert!(room
            .apply_update(nested_elements(MAX_TYPE_DEPTH - 1))
            .expect("accepted")
            .is_some());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut room = Room::new();
        let result = room.apply_update(nested_elements(MAX_TYPE_DEPTH + 5));
        assert!(
            matches!(
                result,
                Err(RoomError::Refused("shared types nested too deeply"))
            ),
            "{result:?}"
        );
    }

    #[test]
    fn nested_map_is_refused() {
        use yrs::{Array, Map, MapPrelim};
        let doc = Doc::new();
        let root = doc.get_or_insert_array("a");
        let update = {
            let mut txn = doc.transact_mut();
            let map = root.push_back(&mut txn, MapPrelim::default());
            map.insert(&mut txn, "k", "v");
            Update::decode_v1(&txn.encode_update_v1()).expect("decodes")
        };
        let result = Room::new().apply_update(update);
        assert!(
            matches!(
                result,
                Err(RoomError::Refused(
                    "only XML elements and texts may be nested"
                ))
            ),
            "{result:?}"
        );
    }

    #[test]
    fn awareness_add_then_remove() {
        let mut room = Room::new();
        let id = ClientID::new(42);
        let mut clients = std::collections::HashMap::new();
        clients.insert(
            id,
            yrs::sync::awareness::AwarenessUpdateEntry {
                clock: 1,
                json: r#"{"user":"a"}"#.into(),
            },
        );
        let relayed = room
            .apply_awareness(AwarenessUpdate { clients })
            .expect("changed");
        assert!(relayed.clients.contains_key(&id));
        assert!(room.awareness_state().is_some());
        let removal = room
            .remove_awareness(&HashSet::from([id]))
            .expect("removed");
        assert_eq!(&*removal.clients[&id].json, "null");
        assert!(room.awareness_state().is_none());
        assert!(room
            .remove_awareness(&HashSet::from([ClientID::new(7)]))
            .is_none());
    }
}
