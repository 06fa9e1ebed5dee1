//! Plain Mix: the in-VM recompile after edits, the reference for reloads.

use super::*;

/// Edit targets for `reps` repetitions of `count` edits, spread over the
/// project.
pub(super) fn edit_pool(ctx: &SizeContext, count: usize, reps: usize) -> Result<Vec<EditTarget>, String> {
    let pool: Vec<EditTarget> = ctx
        .project
        .sample_edit_targets(count * reps)
        .into_iter()
        .cloned()
        .collect();
    if pool.len() < count {
        return Err(format!("the project has only {} edit targets", pool.len()));
    }
    Ok(pool)
}

/// Edits `count` pipeline steps (a new spread each repetition) and times
/// the in-VM recompile, `reps` times.
pub(super) fn plain_mix_recompile(ctx: &mut SizeContext, count: usize, label: &str) -> Result<Outcome, String> {
    ctx.mix_vm()?;
    let reps = ctx.config.reps;
    let pool = edit_pool(ctx, count, reps)?;
    let mut samples = Vec::new();
    let mut cpu = Vec::new();
    let mut files = Vec::new();
    for rep in 0..reps {
        let generation = ctx.next_generation();
        let mut edits: Vec<(PathBuf, String)> = Vec::new();
        for index in pick(pool.len(), count, rep, reps) {
            if let Some(target) = pool.get(index) {
                let edited = target.edit(&ctx.root, generation).map_err(|e| e.to_string())?;
                edits.push((target.file.clone(), edited));
            }
        }
        ctx.write_edits(&edits)?;
        let result = ctx.recompile(&format!("{label}-{rep}"))?;
        samples.push(result.wall_ms);
        cpu.push(result.cpu_ms);
        files.push(result.files_compiled);
    }
    let mut extra = Map::new();
    extra.insert("files_edited".to_owned(), json!(count));
    extra.insert("files_compiled".to_owned(), json!(files));
    extra.insert("cpu_ms".to_owned(), crate::stats::describe(&cpu));
    Ok(Outcome::Samples { samples, extra })
}

/// The `count` distinct indices into a pool of `len` targets that
/// repetition `rep` of `reps` edits: every `reps`-th from `rep` on, so that
/// each repetition's targets are spread over the chains and, when the pool
/// is large enough, differ from the other repetitions'.
pub(super) fn pick(len: usize, count: usize, rep: usize, reps: usize) -> Vec<usize> {
    let mut chosen: Vec<usize> = Vec::with_capacity(count);
    let strided = (0..count).map(|k| (rep + k * reps.max(1)) % len.max(1));
    for index in strided.chain(0..len) {
        if chosen.len() == count.min(len) {
            break;
        }
        if !chosen.contains(&index) {
            chosen.push(index);
        }
    }
    chosen
}

pub(super) fn plain_mix_recompile_1_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    plain_mix_recompile(ctx, 1, "one")
}

pub(super) fn plain_mix_recompile_5_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    plain_mix_recompile(ctx, 5, "five")
}

pub(super) fn plain_mix_recompile_20_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    plain_mix_recompile(ctx, 20, "twenty")
}

pub(super) fn plain_mix_recompile_hub_ms(ctx: &mut SizeContext) -> Result<Outcome, String> {
    ctx.mix_vm()?;
    let hub = ctx.project.hub_macro.clone();
    let mut samples = Vec::new();
    let mut cpu = Vec::new();
    let mut files = Vec::new();
    for rep in 0..hub_reps(ctx) {
        let generation = ctx.next_generation();
        let edited = hub.edit.edit(&ctx.root, generation).map_err(|e| e.to_string())?;
        ctx.write_edits(&[(hub.file.clone(), edited)])?;
        let result = ctx.recompile(&format!("hub-{rep}"))?;
        samples.push(result.wall_ms);
        cpu.push(result.cpu_ms);
        files.push(result.files_compiled);
    }
    let mut extra = Map::new();
    extra.insert("files_edited".to_owned(), json!(1));
    extra.insert("files_compiled".to_owned(), json!(files));
    extra.insert("cpu_ms".to_owned(), crate::stats::describe(&cpu));
    Ok(Outcome::Samples { samples, extra })
}
