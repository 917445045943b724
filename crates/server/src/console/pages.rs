//! The console's HTML, one function per page (maud escapes every value).
//!
//! Pages only lay out what the operations return; they decide nothing. Every
//! form that changes state carries the session's CSRF token.

use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, html};

use super::{Signed, chart, segment};
use crate::ops::integrity::SegmentInfo;
use crate::tokens::Role;
use sealtrail_accounting::{Accounting, RequestState, Settings};
use sealtrail_report::dashboard::Dashboard;

/// Who is signed in, as the pages show it.
pub struct Who {
    role: Role,
    token_id: String,
    csrf: String,
}

impl From<&Signed> for Who {
    fn from(s: &Signed) -> Who {
        Who {
            role: s.role(),
            token_id: s.caller.0.id.clone(),
            csrf: s.csrf.clone(),
        }
    }
}

/// A one-line confirmation after a form did its work.
pub enum Notice {
    /// An accounting request was recorded: id, due date.
    Requested(String, String),
    /// A request was fulfilled; its letter can be downloaded.
    Fulfilled(String),
    /// A request's deadline was extended.
    Extended(String),
}

fn csrf(who: &Who) -> Markup {
    html! { input type="hidden" name="csrf" value=(who.csrf); }
}

fn layout(title: &str, who: Option<&Who>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · sealtrail" }
                link rel="stylesheet" href="/assets/console.css";
            }
            body {
                a.skip href="#main" { "Skip to the main content" }
                header.top {
                    span.brand { "sealtrail" }
                    @if let Some(w) = who {
                        nav aria-label="Account" {
                            @if w.role == Role::Officer {
                                a href="/console" { "Dashboard" }
                                a href="/console/requests" { "Accounting requests" }
                            }
                            span.muted { "Signed in: " (w.role.as_str()) " (token " (w.token_id) ")" }
                            form.inline method="post" action="/signout" {
                                (csrf(w))
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                footer.bottom { p.muted { "Every figure here comes from the sealed, signed log; every page you open is itself recorded in it." } }
            }
        }
    }
}

/// The sign-in page; `nonce` is the double-submit token of the form.
pub fn signin(nonce: &str, message: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            @if let Some(m) = message {
                p.alert role="alert" { (m) }
            }
            p { "Sign in with the access token you were given (it starts with " code { "st_" } "). Officers see the compliance dashboard, auditors the verification material, patients their own accounting of disclosures." }
            form.card method="post" action="/signin" {
                input type="hidden" name="csrf" value=(nonce);
                label for="token" { "Access token" }
                input #token type="password" name="token" required autocomplete="off" spellcheck="false";
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// An error page with the operation's own message.
pub fn error(who: Option<Who>, status: StatusCode, message: &str) -> Markup {
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::BAD_REQUEST => "Please check the form",
        StatusCode::SERVICE_UNAVAILABLE => "Busy, try again",
        _ => "Something went wrong",
    };
    layout(
        title,
        who.as_ref(),
        html! {
            p.alert role="alert" { (message) }
            p { a href="/console" { "Back to your page" } }
        },
    )
}

fn table_or_none(empty: bool, none: &str, t: Markup) -> Markup {
    html! {
        @if empty { p.muted { (none) } } @else { div.scroll { (t) } }
    }
}

/// Coverage gaps per source: (source, days, silent hours, missing hours,
/// first day, last day), in source order.
fn gap_summary(d: &Dashboard) -> Vec<(String, u64, u64, u64, String, String)> {
    let mut out: Vec<(String, u64, u64, u64, String, String)> = Vec::new();
    for g in &d.coverage_gaps {
        match out.last_mut() {
            Some(last) if last.0 == g.source => {
                last.1 += 1;
                last.2 += g.silent_hours;
                last.3 += g.missing_hours;
                last.5 = g.day.clone();
            }
            _ => out.push((
                g.source.clone(),
                1,
                g.silent_hours,
                g.missing_hours,
                g.day.clone(),
                g.day.clone(),
            )),
        }
    }
    out
}

/// The officer's dashboard.
pub fn officer(who: &Who, d: &Dashboard, pack: Option<&str>) -> Markup {
    // seconds are enough on a dashboard: 2026-01-01T10:00:00.123456Z → 2026-01-01 10:00:00 UTC
    let sealed = format!(
        "{} UTC",
        d.sealed_at
            .get(..19)
            .unwrap_or(&d.sealed_at)
            .replace('T', " ")
    );
    layout(
        "Compliance dashboard",
        Some(who),
        html! {
            section.cards aria-label="The sealed log" {
                div.card { p.label { "Events in the sealed log" } p.big { (d.tree_size) } }
                div.card { p.label { "Last checkpoint signed" } p.big.small { (sealed) } }
                div.card { p.label { "Open accounting requests" } p.big { (d.open_requests.len()) } }
                div.card { p.label { "Quarantined records in the period" } p.big { (d.quarantine.iter().map(|q| q.records).sum::<u64>()) } }
            }
            form.period method="get" action="/console" {
                fieldset {
                    legend { "Period shown" }
                    label for="pf" { "From" } input #pf type="date" name="from" value=(d.from) required;
                    label for="pt" { "To" } input #pt type="date" name="to" value=(d.to) required;
                    button type="submit" { "Show" }
                }
            }
            section aria-labelledby="charts-h" {
                h2 #charts-h { "Encryption and MFA, week by week" }
                div.charts {
                    (chart::weekly_share("enc", "PHI mail protected in transit", "PHI mail", &d.weekly_encrypted))
                    (chart::weekly_share("mfa", "Sign-ins with MFA", "successful sign-ins", &d.weekly_mfa))
                }
            }
            section aria-labelledby="open-h" {
                h2 #open-h { "Open accounting requests" }
                (table_or_none(d.open_requests.is_empty(), "No accounting request is waiting.", html! {
                    table { thead { tr { th scope="col" { "Request" } th scope="col" { "Received" } th scope="col" { "Due" } th scope="col" { "Days left" } } }
                        tbody { @for r in &d.open_requests { tr {
                            td { (r.request) } td { (r.received) } td { (r.deadline) @if r.extended { " (extended)" } }
                            td.num.late[r.days_left < 0] { (r.days_left) @if r.days_left < 0 { " (late)" } }
                        } } } }
                }))
                p { a href="/console/requests" { "Fulfil or extend requests" } }
            }
            section #pack aria-labelledby="pack-h" {
                h2 #pack-h { "Evidence pack" }
                @if let Some(id) = pack {
                    p.ok role="status" { "Pack " code { (id) } " is ready. " a href={ "/console/packs/" (id) } download { "Download the pack (zip with PDF, CSV, SQL, proofs and signed manifest)" } }
                }
                form.card method="post" action="/console/packs" {
                    (csrf(who))
                    p { "Builds the OCR-ready pack for a period from the sealed log. It takes a few seconds for a year." }
                    div.row {
                        div { label for="from" { "First day" } input #from type="date" name="from" value=(d.from) required; }
                        div { label for="to" { "Last day" } input #to type="date" name="to" value=(d.to) required; }
                    }
                    button type="submit" { "Build the pack" }
                }
            }
            div.two {
            section aria-labelledby="recent-h" {
                h2 #recent-h { "Received in the last 24 hours" }
                (table_or_none(d.recent_by_source.is_empty(), "Nothing was received in the last 24 hours. If a gateway should be sending, check it.", html! {
                    table { thead { tr { th scope="col" { "Source" } th scope="col" { "Events" } th scope="col" { "Last received" } } }
                        tbody { @for r in &d.recent_by_source { tr { td { (r.source) } td.num { (r.events) } td { (r.last_received) } } } } }
                }))
            }
            section aria-labelledby="q-h" {
                h2 #q-h { "Quarantined input" }
                (table_or_none(d.quarantine.is_empty(), "No input was quarantined in this period.", html! {
                    table { thead { tr { th scope="col" { "Source" } th scope="col" { "Reason" } th scope="col" { "Records" } } }
                        tbody { @for q in &d.quarantine { tr { td { (q.source) } td { (q.reason) } td.num { (q.records) } } } } }
                }))
            }
            }
            section aria-labelledby="gaps-h" {
                h2 #gaps-h { "Coverage gaps" }
                p { "Hours in the period when a source sent nothing (silent) or no coverage record exists at all (missing). Many silent hours from a busy source mean collection stopped." }
                (table_or_none(d.coverage_gaps.is_empty(), "No silent or missing hours in this period.", html! {
                    table { thead { tr { th scope="col" { "Source" } th scope="col" { "Days with gaps" } th scope="col" { "Silent hours" } th scope="col" { "Missing hours" } th scope="col" { "First day" } th scope="col" { "Last day" } } }
                        tbody { @for g in gap_summary(d) { tr { td { (g.0) } td.num { (g.1) } td.num { (g.2) } td.num { (g.3) } td { (g.4) } td { (g.5) } } } } }
                    details {
                        summary { "Show every day (" (d.coverage_gaps.len()) ")" }
                        div.scroll { table { thead { tr { th scope="col" { "Source" } th scope="col" { "Day" } th scope="col" { "Silent hours" } th scope="col" { "Missing hours" } } }
                            tbody { @for g in &d.coverage_gaps { tr { td { (g.source) } td { (g.day) } td.num { (g.silent_hours) } td.num { (g.missing_hours) } } } } } }
                    }
                }))
            }
        },
    )
}

/// The officer's list of accounting requests with their actions.
pub fn requests(
    who: &Who,
    list: &[RequestState],
    today: chrono::NaiveDate,
    notice: Option<Notice>,
) -> Markup {
    layout(
        "Accounting requests",
        Some(who),
        html! {
            @match &notice {
                Some(Notice::Fulfilled(id)) => p.ok role="status" { "Request " (id) " is fulfilled and the fulfilment is sealed. " a href={ "/console/requests/" (segment(id)) "/letter.pdf" } download { "Download the letter that was sent (PDF)" } },
                Some(Notice::Extended(id)) => p.ok role="status" { "Request " (id) " is extended; send the individual the written reason." },
                _ => {},
            }
            p { "45 CFR 164.528(c): answer within 60 days of receipt; one extension of up to 30 days, decided and told to the individual in writing within the first 60." }
            (table_or_none(list.is_empty(), "No accounting request was ever recorded.", html! {
                table.requests {
                    thead { tr { th scope="col" { "Request" } th scope="col" { "Patient" } th scope="col" { "Received" } th scope="col" { "Due" } th scope="col" { "State" } th scope="col" { "Actions" } } }
                    tbody { @for r in list { tr {
                        td { (r.id) }
                        td { a href={ "/console/patients/" (segment(&r.patient_id)) } { (r.patient_id) } }
                        td { (r.received) }
                        td { (r.deadline()) @if r.extensions > 0 { " (extended)" } }
                        @if let Some(f) = r.fulfilled {
                            td { "fulfilled " (f) } td {}
                        } @else {
                            @let left = (r.deadline() - today).num_days();
                            td.late[left < 0] { (left) " days left" @if left < 0 { " (late)" } }
                            td.actions {
                                form method="post" action={ "/console/requests/" (segment(&r.id)) "/fulfil" } {
                                    (csrf(who))
                                    button type="submit" { "Fulfil now" }
                                }
                                @if r.extensions == 0 {
                                    details {
                                        summary { "Extend" }
                                        form method="post" action={ "/console/requests/" (segment(&r.id)) "/extend" } {
                                            (csrf(who))
                                            label for={ "until-" (r.id) } { "New due date" }
                                            input id={ "until-" (r.id) } type="date" name="until" required;
                                            label for={ "reason-" (r.id) } { "Reason sent to the individual" }
                                            input id={ "reason-" (r.id) } type="text" name="reason" required;
                                            button type="submit" { "Extend" }
                                        }
                                    }
                                }
                            }
                        }
                    } } }
                }
            }))
        },
    )
}

/// A patient's accounting: the same content as the letter.
pub fn patient(
    who: &Who,
    acc: &Accounting,
    s: &Settings,
    base: &str,
    notice: Option<Notice>,
) -> Markup {
    let fill = |t: &str| {
        t.replace("{from}", &acc.period.from)
            .replace("{to}", &acc.period.to)
            .replace("{withheld}", &acc.withheld_count.to_string())
    };
    layout(
        &s.title,
        Some(who),
        html! {
            @if let Some(Notice::Requested(id, due)) = &notice {
                p #requested .ok role="status" { "Your request " (id) " is recorded. We will send your accounting by " (due) "." }
            }
            p { (s.organisation) }
            p.muted { (s.contact) }
            p { "Patient ID: " strong { (acc.patient_id) } }
            p { "Time covered: " (acc.period.from) " to " (acc.period.to) }
            p { (fill(&s.intro)) }
            div.actions {
                a.button href={ (base) "/letter.pdf" } download { "Download this as a letter (PDF)" }
                form.inline method="post" action={ (base) "/requests" } {
                    (csrf(who))
                    button type="submit" { "Request a formal accounting" }
                }
            }
            @if acc.entries.is_empty() {
                p { (fill(&s.none)) }
            } @else {
                h2 { "Who we shared your information with" }
                ul.entries {
                    @for e in &acc.entries { li.card {
                        p.label { (e.date) @if e.count > 1 { " · " (e.count) " times, last " (e.last_date.clone().unwrap_or_default()) } }
                        p { strong { (e.recipient_name) } @if let Some(a) = &e.recipient_address { br; span.muted { (a) } } }
                        dl {
                            dt { "What we shared" } dd { (e.description) }
                            dt { "Why" } dd { (e.purpose) }
                            dt { "How it was sent" } dd { (e.transport.clone().unwrap_or_else(|| "not recorded".into())) }
                            dt { "Line in our sealed log" } dd { (e.idx) }
                        }
                    } }
                }
                @if acc.entries.iter().any(|e| e.count > 1) { p { (fill(&s.repeated)) } }
            }
            @if acc.withheld_count > 0 { p.alert { (fill(&s.withheld)) } }
            p { (fill(&s.not_listed)) }
            h2 { "Your rights" }
            p { (fill(&s.rights)) }
            h2 { "How to check this list" }
            p { (fill(&s.verify)) }
            p.muted.small { "Signed log: " (acc.checkpoint.origin) ", " (acc.checkpoint.size) " entries, root " code { (acc.checkpoint.root) } }
        },
    )
}

/// The auditor's page: integrity material and how to check it offline.
pub fn auditor(
    who: &Who,
    checkpoint: &str,
    keys: &str,
    segments: &[SegmentInfo],
    manifests: &[u64],
) -> Markup {
    layout(
        "Verification material",
        Some(who),
        html! {
            section aria-labelledby="cp-h" {
                h2 #cp-h { "Current checkpoint" }
                p { "A C2SP signed note: origin, tree size, RFC 6962 root hash, then the Ed25519 signature." }
                pre { (checkpoint) }
                p { a href="/console/checkpoint" download { "Download the checkpoint" } }
            }
            section aria-labelledby="vk-h" {
                h2 #vk-h { "Verifier key" }
                pre { (keys) }
                p { a href="/console/keys" download { "Download the verifier key" } " (Go " code { "sumdb/note" } " format). Compare it with the key the organisation published; do not trust this page alone." }
            }
            section aria-labelledby="steps-h" {
                h2 #steps-h { "Verify offline" }
                ol.steps {
                    li { "Download the checkpoint, the verifier key, every segment and the latest manifest below into a directory laid out as " code { "STORE/segments/" } ", " code { "STORE/manifests/" } ", " code { "STORE/checkpoint" } "." }
                    li { "With sealtrail: " code { "sealtrail verify --store STORE --vkey sealtrail.vkey --trusted-checkpoint checkpoint-you-kept-earlier" } ". It names any edited, missing, moved or extra leaf by file and index." }
                    li { "Without it: " code { "python3 docs/verifiers/verify_store.py STORE sealtrail.vkey" } " (Python " code { "cryptography" } " and " code { "pyarrow" } " only), or OpenSSL 3 for the signatures alone (" code { "openssl pkeyutl -verify -rawin" } ")." }
                    li { "To check that this log only grew since a checkpoint you kept, ask below for a consistency proof from its tree size and check it against both roots (RFC 6962 §2.1.2)." }
                    li { "docs/VERIFYING.md in the source gives every command, and docs/FORMAT.md the exact formats." }
                }
            }
            section aria-labelledby="proof-h" {
                h2 #proof-h { "Proofs" }
                div.row {
                    form.card method="get" action="/console/proof" {
                        label for="idx" { "Inclusion proof for leaf index" }
                        input #idx type="number" name="idx" min="0" required;
                        button type="submit" { "Download the proof" }
                    }
                    form.card method="get" action="/console/proof" {
                        label for="cfrom" { "Consistency proof from tree size" }
                        input #cfrom type="number" name="from" min="1" required;
                        button type="submit" { "Download the proof" }
                    }
                }
            }
            section aria-labelledby="seg-h" {
                h2 #seg-h { "Segments" }
                (table_or_none(segments.is_empty(), "No segment is sealed yet.", html! {
                    table { thead { tr { th scope="col" { "File" } th scope="col" { "Leaves" } th scope="col" { "Bytes" } } }
                        tbody { @for s in segments { tr {
                            td { a href={ "/console/segments/" (segment(&s.name)) } download { (s.name) } }
                            td.num { (s.first) "–" (s.last) } td.num { (s.bytes) }
                        } } } }
                }))
            }
            section aria-labelledby="man-h" {
                h2 #man-h { "Signed manifests" }
                (table_or_none(manifests.is_empty(), "No manifest yet.", html! {
                    ul.inline-list { @for m in manifests.iter().rev().take(50) { li { a href={ "/console/manifests/" (m) } download { "tree size " (m) } } } }
                }))
                @if manifests.len() > 50 { p.muted { "The 50 latest of " (manifests.len()) " are listed; the API lists them all." } }
            }
        },
    )
}
