//! Editing a received bundle for forwarding without re-encoding what does not change. (being written)
