//! Job descriptions for render-farm schedulers (`docs/farm.md`, "Job templates"): an Open
//! Job Description template (`JOBDIR/template.json`: Deadline Cloud, `openjd run`) and
//! Slurm batch scripts (`JOBDIR/slurm/pass.sbatch`, `merge.sbatch`). Both run one Pass task
//! per plan group (`samurai-roto farm pass --job JOBDIR --pass I`), then the merge.
use super::Plan;
use serde::Serialize;
use std::path::Path;

/// The OpenJD specification the template follows.
pub const OPENJD_SPECIFICATION: &str = "jobtemplate-2023-09";
/// The longest job name OpenJD 2023-09 accepts (characters, without extensions).
const OPENJD_NAME_MAX: usize = 128;

/// The job's name: "SamuraiRoto analysis: " and the shots' names joined by ", ".
fn job_name(plan: &Plan, what: &str) -> String {
    let shots: Vec<&str> = plan.shots.iter().map(|s| s.name.as_str()).collect();
    format!("SamuraiRoto {what}: {}", shots.join(", "))
}

/// `name` fit for an OpenJD job name: no control characters and no braces (the name is a
/// format string: `{{` would open an expression), at most 128 characters.
fn openjd_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '{' => '(',
            '}' => ')',
            c if c.is_control() => ' ',
            c => c,
        })
        .take(OPENJD_NAME_MAX)
        .collect()
}

/// `text` fit for an OpenJD description: control characters but CR, LF and tab as spaces,
/// at most 2048 characters.
fn description(text: &str) -> String {
    text.chars().map(|c| if c.is_control() && !matches!(c, '\r' | '\n' | '\t') { ' ' } else { c }).take(2048).collect()
}

/// Whether `arg` can stand in an OpenJD argument list as it is: arguments are format
/// strings (no escape for `{{` or `}}`) and take no control character but CR and LF.
fn openjd_literal(arg: &str) -> bool {
    !arg.contains("{{") && !arg.contains("}}") && !arg.chars().any(|c| c.is_control() && c != '\n' && c != '\r')
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobTemplate {
    specification_version: &'static str,
    name: String,
    parameter_definitions: Vec<ParameterDefinition>,
    steps: Vec<Step>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ParameterDefinition {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_flow: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    default: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Step {
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter_space: Option<ParameterSpace>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dependencies: Vec<Dependency>,
    script: Script,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ParameterSpace {
    task_parameter_definitions: Vec<TaskParameter>,
}

#[derive(Serialize)]
struct TaskParameter {
    name: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    range: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Dependency {
    depends_on: &'static str,
}

#[derive(Serialize)]
struct Script {
    actions: Actions,
}

#[derive(Serialize)]
struct Actions {
    #[serde(rename = "onRun")]
    on_run: Action,
}

#[derive(Serialize)]
struct Action {
    command: String,
    args: Vec<String>,
}

/// The job's OpenJD template (specification `jobtemplate-2023-09`) as YAML, to be written
/// into the job folder `job_dir` (`JOBDIR/template.json`). Job parameters: `JobDir`
/// (PATH, default `.`: OpenJD takes only relative PATH defaults, joined to the template's
/// folder, so the bundle can move) and `SamuraiRoto` (STRING, default `exe`, absolute: a
/// PATH default could not name a file outside the job folder). A step `Pass` has one task
/// per plan group (task parameter `Group`, `0-(N-1)`) running
/// `SamuraiRoto farm pass --job JobDir --pass Group`; a step `Merge` after it runs
/// `SamuraiRoto farm merge --job JobDir` and `merge_args`. An argument OpenJD cannot take
/// literally (one holding `{{`, `}}` or a control character: arguments are format strings)
/// travels as a STRING job parameter `MergeArgK` (default: the argument) instead. A plan
/// without groups gets no Pass step. OpenJD takes parameter values of up to 1024
/// characters.
pub fn openjd_template(plan: &Plan, job_dir: &Path, exe: &Path, merge_args: &[String]) -> String {
    let mut parameters = vec![
        ParameterDefinition {
            name: "JobDir".into(),
            kind: "PATH",
            object_type: Some("DIRECTORY"),
            data_flow: Some("INOUT"),
            description: Some(description(&format!(
                "The job folder (plan.yaml, passes/); the default is the template's folder, planned as {}",
                job_dir.display()
            ))),
            default: ".".into(),
        },
        ParameterDefinition {
            name: "SamuraiRoto".into(),
            kind: "STRING",
            object_type: None,
            data_flow: None,
            description: Some("The samurai-roto program on the workers".into()),
            default: exe.display().to_string(),
        },
    ];
    let command = "{{Param.SamuraiRoto}}".to_string();
    let job = "{{Param.JobDir}}".to_string();
    let mut merge = vec!["farm".into(), "merge".into(), "--job".into(), job.clone()];
    for (k, arg) in merge_args.iter().enumerate() {
        if openjd_literal(arg) {
            merge.push(arg.clone());
        } else {
            let name = format!("MergeArg{k}");
            merge.push(format!("{{{{Param.{name}}}}}"));
            parameters.push(ParameterDefinition {
                name,
                kind: "STRING",
                object_type: None,
                data_flow: None,
                description: Some("An argument of the merge that a template cannot hold literally".into()),
                default: arg.clone(),
            });
        }
    }
    let n = plan.groups.len();
    let mut steps = Vec::new();
    if n > 0 {
        steps.push(Step {
            name: "Pass",
            parameter_space: Some(ParameterSpace {
                task_parameter_definitions: vec![TaskParameter {
                    name: "Group",
                    kind: "INT",
                    range: if n == 1 { "0".into() } else { format!("0-{}", n - 1) },
                }],
            }),
            dependencies: Vec::new(),
            script: Script {
                actions: Actions {
                    on_run: Action {
                        command: command.clone(),
                        args: ["farm", "pass", "--job", &job, "--pass", "{{Task.Param.Group}}"].map(String::from).to_vec(),
                    },
                },
            },
        });
    }
    steps.push(Step {
        name: "Merge",
        parameter_space: None,
        dependencies: if n > 0 { vec![Dependency { depends_on: "Pass" }] } else { Vec::new() },
        script: Script { actions: Actions { on_run: Action { command, args: merge } } },
    });
    let template = JobTemplate {
        specification_version: OPENJD_SPECIFICATION,
        name: openjd_name(&job_name(plan, "analysis")),
        parameter_definitions: parameters,
        steps,
    };
    // JSON, not YAML: OpenJD reads YAML templates as YAML 1.1, where a bare `off`, `no` or
    // `y` (e.g. `--refine off`) is a boolean, and serde_norway writes YAML 1.2, which leaves
    // them bare. Every JSON string is quoted. Strings, sequences and maps only: serialising
    // cannot fail.
    serde_json::to_string_pretty(&template).expect("a job template serialises") + "\n"
}

/// `s` quoted for a POSIX shell: in single quotes, each `'` written `'\''`; words of only
/// safe characters (letters, digits, `_-./=:,+@`) stay as they are.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-./=:,+@".contains(c));
    if safe {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `s` as one argument of an `#SBATCH` line (which sbatch parses itself, not the shell):
/// in double quotes, `\` and `"` escaped with a backslash, control characters as spaces.
fn sbatch_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A path as the start of a Slurm file-name pattern: `%` doubled (sbatch replaces `%a`,
/// `%j`, ... in `--output`).
fn slurm_pattern(path: &Path) -> String {
    path.display().to_string().replace('%', "%%")
}

/// The job's Slurm batch scripts, `(pass.sbatch, merge.sbatch)`, meant for
/// `JOBDIR/slurm/`: the pass script is an array job with one task per plan group
/// (`--array=0-(N-1)`, output in `job_dir/slurm/pass-%a.log`) that runs
/// `exe farm pass --job job_dir --pass $SLURM_ARRAY_TASK_ID`; the merge script (output in
/// `job_dir/slurm/merge.log`) runs `exe farm merge --job job_dir` and `merge_args`. Every
/// path and argument is shell-quoted. The `slurm/` folder must exist when the jobs start
/// (Slurm does not create it). A plan without groups gets a pass script that does
/// nothing. Paths should be absolute (tasks start in the submitting folder) and hold no
/// line break (an `#SBATCH` line cannot).
pub fn slurm_scripts(plan: &Plan, job_dir: &Path, exe: &Path, merge_args: &[String], cpus_per_task: Option<u32>) -> (String, String) {
    let logs = job_dir.join("slurm");
    let exe_q = shell_quote(&exe.display().to_string());
    let job_q = shell_quote(&job_dir.display().to_string());
    let n = plan.groups.len();
    let mut pass = String::from("#!/bin/bash\n");
    pass += &format!("#SBATCH --job-name={}\n", sbatch_quote(&job_name(plan, "pass")));
    pass += &format!("#SBATCH --output={}\n", sbatch_quote(&format!("{}/pass-%a.log", slurm_pattern(&logs))));
    if let Some(cpus) = cpus_per_task {
        pass += &format!("#SBATCH --cpus-per-task={cpus}\n");
    }
    if n > 0 {
        pass += &format!("#SBATCH --array=0-{}\n", n - 1);
        pass += "# One task per pass group of the job's plan.yaml; libtorch takes the task's CPUs\n";
        pass += "# (all of the node's when the task was given no count).\n";
        pass +=
            &format!("exec {exe_q} --threads \"${{SLURM_CPUS_PER_TASK:-0}}\" farm pass --job {job_q} --pass \"$SLURM_ARRAY_TASK_ID\"\n");
    } else {
        pass += "# The plan has no pass group: nothing to run.\nexit 0\n";
    }
    let mut merge = String::from("#!/bin/bash\n");
    merge += &format!("#SBATCH --job-name={}\n", sbatch_quote(&job_name(plan, "merge")));
    merge += &format!("#SBATCH --output={}\n", sbatch_quote(&format!("{}/merge.log", slurm_pattern(&logs))));
    merge += "# Blends the pass files into the cache or mattes; run after every pass task succeeded.\n";
    merge += &format!("exec {exe_q} farm merge --job {job_q}");
    for arg in merge_args {
        merge.push(' ');
        merge += &shell_quote(arg);
    }
    merge.push('\n');
    (pass, merge)
}
