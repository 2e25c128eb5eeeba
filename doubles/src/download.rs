//! placeholder
use crate::{Call, Env, Io, Outcome};
pub fn run_curl(_a: &[String], _e: &Env, _io: &mut Io<'_>, _c: &mut Call) -> Outcome {
    Ok(())
}
pub fn run_wget(_a: &[String], _e: &Env, _io: &mut Io<'_>, _c: &mut Call) -> Outcome {
    Ok(())
}
pub fn run_git(_a: &[String], _e: &Env, _io: &mut Io<'_>, _c: &mut Call) -> Outcome {
    Ok(())
}
