//! (being written for issue 9)
