//! placeholder
use crate::{Call, Env, Io, Outcome};
pub fn run_ssh(_a: &[String], _e: &Env, _io: &mut Io<'_>, _c: &mut Call) -> Outcome {
    Ok(())
}
pub fn run_scp(_a: &[String], _e: &Env, _io: &mut Io<'_>, _c: &mut Call) -> Outcome {
    Ok(())
}
