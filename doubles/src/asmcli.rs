//! placeholder
use crate::{Call, Env, Io, Outcome};
pub fn run(_a: &[String], _e: &Env, _io: &mut Io<'_>, _c: &mut Call) -> Outcome {
    Ok(())
}
