//! The English singular and plural of a word, by the rules of the `pluralize` npm package.
//!
//! The rule tables and the way they apply are those of the `pluralizer` crate (MIT OR
//! Apache-2.0), its port of `pluralize`, kept to the letter so that every API name stays what it
//! was (a test holds the two to the same answers). What differs is the regex engine and a memo:
//! `regex-lite` compiles the 65 case-insensitive patterns in under a millisecond, where the
//! Unicode-aware automata of `regex` were most of the start-up's work (see bench/NOTES.md), and
//! each distinct word is matched once. Names are ASCII identifiers in practice; for other
//! letters `regex-lite` folds case more simply.

use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

use regex_lite::{Captures, Regex};

/// The singular of a word (`line_items` -> `line_item`, `people` -> `person`).
pub fn singular(word: &str) -> String {
    RULES.known(Form::Singular, word)
}

/// The plural of a word (`category` -> `categories`, `person` -> `people`).
pub fn plural(word: &str) -> String {
    RULES.known(Form::Plural, word)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Form {
    Singular,
    Plural,
}

static RULES: LazyLock<Rules> = LazyLock::new(Rules::new);

struct Rules {
    /// Irregular singular -> plural.
    to_plural: HashMap<&'static str, &'static str>,
    /// Irregular plural -> singular.
    to_singular: HashMap<&'static str, &'static str>,
    uncountable: HashSet<&'static str>,
    plural: Vec<Rule>,
    singular: Vec<Rule>,
    /// Answers given: every app model asks for the names of the same few tables, and matching
    /// runs each rule's automaton over the word.
    known: Mutex<HashMap<(Form, String), String>>,
}

struct Rule {
    pattern: Regex,
    replacement: &'static str,
}

impl Rules {
    fn new() -> Self {
        let rules = |table: &[(&'static str, &'static str)]| -> Vec<Rule> {
            table
                .iter()
                .copied()
                .chain(UNCOUNTABLE_PATTERNS.iter().map(|pattern| (*pattern, "$0")))
                .map(|(pattern, replacement)| Rule {
                    pattern: Regex::new(pattern).expect("the inflection rules are valid"),
                    replacement,
                })
                .collect()
        };
        Self {
            to_plural: IRREGULAR.iter().copied().collect(),
            to_singular: IRREGULAR.iter().map(|&(one, many)| (many, one)).collect(),
            uncountable: UNCOUNTABLE.iter().copied().collect(),
            plural: rules(PLURAL),
            singular: rules(SINGULAR),
            known: Mutex::default(),
        }
    }

    fn known(&self, form: Form, word: &str) -> String {
        let key = (form, word.to_string());
        if let Some(answer) = self.answers().get(&key) {
            return answer.clone();
        }
        let answer = match form {
            Form::Singular => {
                self.inflect(word, &self.to_singular, &self.to_plural, &self.singular)
            }
            Form::Plural => self.inflect(word, &self.to_plural, &self.to_singular, &self.plural),
        };
        self.answers().insert(key, answer.clone());
        answer
    }

    fn answers(&self) -> MutexGuard<'_, HashMap<(Form, String), String>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `word` turned by an irregular form (`replace`), kept when it already has the wanted form
    /// (`keep`), or else by the last rule that matches it.
    fn inflect(
        &self,
        word: &str,
        replace: &HashMap<&str, &str>,
        keep: &HashMap<&str, &str>,
        rules: &[Rule],
    ) -> String {
        let token = word.to_lowercase();
        if keep.contains_key(token.as_str()) {
            return restore_case(word, &token);
        }
        if let Some(replacement) = replace.get(token.as_str()) {
            return restore_case(word, replacement);
        }
        if token.is_empty() || self.uncountable.contains(token.as_str()) {
            return word.to_string();
        }
        rules
            .iter()
            .rev()
            .find_map(|rule| {
                let captures = rule.pattern.captures(word)?;
                let whole = captures.get(0)?;
                let replaced = format!(
                    "{}{}{}",
                    &word[..whole.start()],
                    substitute(word, rule.replacement, &captures),
                    &word[whole.end()..]
                );
                Some(without_dollar_escapes(&replaced))
            })
            .unwrap_or_else(|| word.to_string())
    }
}

/// The replacement with `$n` standing for the n-th group that took part in the match (groups
/// that did not are skipped in the count), each in the case of `word`.
fn substitute(word: &str, replacement: &str, captures: &Captures<'_>) -> String {
    let mut out = restore_case(word, replacement);
    for (index, group) in captures.iter().flatten().enumerate() {
        out = out.replace(&format!("${index}"), &restore_case(word, group.as_str()));
    }
    out
}

/// `text` without any `$` left over, nor the character after it.
fn without_dollar_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '$' {
            chars.next();
        } else {
            out.push(c);
        }
    }
    out
}

/// `token` in the case of `word`: all lower, all upper, or as it is.
fn restore_case(word: &str, token: &str) -> String {
    if word == token {
        token.to_string()
    } else if word == word.to_lowercase() {
        token.to_lowercase()
    } else if word == word.to_uppercase() {
        token.to_uppercase()
    } else if word.chars().next().is_some_and(char::is_uppercase) {
        token.to_string()
    } else {
        token.to_lowercase()
    }
}

const IRREGULAR: &[(&str, &str)] = &[
    ("I", "we"),
    ("me", "us"),
    ("he", "they"),
    ("she", "they"),
    ("them", "them"),
    ("myself", "ourselves"),
    ("yourself", "yourselves"),
    ("itself", "themselves"),
    ("herself", "themselves"),
    ("himself", "themselves"),
    ("themself", "themselves"),
    ("is", "are"),
    ("was", "were"),
    ("has", "have"),
    ("this", "these"),
    ("that", "those"),
    ("my", "our"),
    ("its", "their"),
    ("his", "their"),
    ("her", "their"),
    ("echo", "echoes"),
    ("dingo", "dingoes"),
    ("volcano", "volcanoes"),
    ("tornado", "tornadoes"),
    ("torpedo", "torpedoes"),
    ("genus", "genera"),
    ("viscus", "viscera"),
    ("stigma", "stigmata"),
    ("stoma", "stomata"),
    ("dogma", "dogmata"),
    ("lemma", "lemmata"),
    ("schema", "schemata"),
    ("anathema", "anathemata"),
    ("ox", "oxen"),
    ("axe", "axes"),
    ("die", "dice"),
    ("yes", "yeses"),
    ("foot", "feet"),
    ("eave", "eaves"),
    ("goose", "geese"),
    ("tooth", "teeth"),
    ("quiz", "quizzes"),
    ("human", "humans"),
    ("proof", "proofs"),
    ("carve", "carves"),
    ("valve", "valves"),
    ("looey", "looies"),
    ("thief", "thieves"),
    ("groove", "grooves"),
    ("pickaxe", "pickaxes"),
    ("passerby", "passersby"),
    ("canvas", "canvases"),
];

/// Tried last to first.
const PLURAL: &[(&str, &str)] = &[
    ("(?i)s?$", "s"),
    (r"(?i)[^\u0000-\u007F]$", "$0"),
    (r"(?i)([^aeiou]ese)$", "$1"),
    (r"(?i)(ax|test)is$", "$1es"),
    (r"(?i)(alias|[^aou]us|t[lm]as|gas|ris)$", "$1es"),
    (r"(?i)(e[mn]u)s?$", "$1s"),
    (r"(?i)([^l]ias|[aeiou]las|[ejzr]as|[iu]am)$", "$1"),
    (
        r"(?i)(alumn|syllab|vir|radi|nucle|fung|cact|stimul|termin|bacill|foc|uter|loc|strat)(?:us|i)$",
        "$1i",
    ),
    (r"(?i)(alumn|alg|vertebr)(?:a|ae)$", "$1ae"),
    (r"(?i)(seraph|cherub)(?:im)?$", "$1im"),
    (r"(?i)(her|at|gr)o$", "$1oes"),
    (
        r"(?i)(agend|addend|millenni|dat|extrem|bacteri|desiderat|strat|candelabr|errat|ov|symposi|curricul|automat|quor)(?:a|um)$",
        "$1a",
    ),
    (
        r"(?i)(apheli|hyperbat|periheli|asyndet|noumen|phenomen|criteri|organ|prolegomen|hedr|automat)(?:a|on)$",
        "$1a",
    ),
    (r"(?i)sis$", "ses"),
    (r"(?i)(?:(kni|wi|li)fe|(ar|l|ea|eo|oa|hoo)f)$", "$1$2ves"),
    (r"(?i)([^aeiouy]|qu)y$", "$1ies"),
    (r"(?i)([^ch][ieo][ln])ey$", "$1ies"),
    (r"(?i)(x|ch|ss|sh|zz)$", "$1es"),
    (
        r"(?i)(matr|cod|mur|sil|vert|ind|append)(?:ix|ex)$",
        "$1ices",
    ),
    (r"(?i)\b((?:tit)?m|l)(?:ice|ouse)$", "$1ice"),
    (r"(?i)(pe)(?:rson|ople)$", "$1ople"),
    (r"(?i)(child)(?:ren)?$", "$1ren"),
    (r"(?i)eaux$", "$0"),
    (r"(?i)m[ae]n$", "men"),
    (r"(?i)^thou$", "you"),
];

/// Tried last to first.
const SINGULAR: &[(&str, &str)] = &[
    ("(?i)s$", ""),
    ("(?i)(ss)$", "$1"),
    (
        r"(?i)(wi|kni|(?:after|half|high|low|mid|non|night|[^\w]|^)li)ves$",
        "$1fe",
    ),
    ("(?i)(ar|(?:wo|[ae])l|[eo][ao])ves$", "$1f"),
    ("(?i)ies$", "y"),
    (
        "(?i)(dg|ss|ois|lk|ok|wn|mb|th|ch|ec|oal|is|ck|ix|sser|ts|wb)ies$",
        "$1ie",
    ),
    (
        r"(?i)\b(l|(?:neck|cross|hog|aun)?t|coll|faer|food|gen|goon|group|hipp|junk|vegg|(?:pork)?p|charl|calor|cut)ies$",
        "$1ie",
    ),
    (r"(?i)\b(mon|smil)ies$", "$1ey"),
    (r"(?i)\b((?:tit)?m|l)ice$", "$1ouse"),
    ("(?i)(seraph|cherub)im$", "$1"),
    (
        "(?i)(x|ch|ss|sh|zz|tto|go|cho|alias|[^aou]us|t[lm]as|gas|(?:her|at|gr)o|[aeiou]ris)(?:es)?$",
        "$1",
    ),
    (
        "(?i)(analy|diagno|parenthe|progno|synop|the|empha|cri|ne)(?:sis|ses)$",
        "$1sis",
    ),
    ("(?i)(movie|twelve|abuse|e[mn]u)s$", "$1"),
    ("(?i)(test)(?:is|es)$", "$1is"),
    (
        "(?i)(alumn|syllab|vir|radi|nucle|fung|cact|stimul|termin|bacill|foc|uter|loc|strat)(?:us|i)$",
        "$1us",
    ),
    (
        "(?i)(agend|addend|millenni|dat|extrem|bacteri|desiderat|strat|candelabr|errat|ov|symposi|curricul|quor)a$",
        "$1um",
    ),
    (
        "(?i)(apheli|hyperbat|periheli|asyndet|noumen|phenomen|criteri|organ|prolegomen|hedr|automat)a$",
        "$1on",
    ),
    ("(?i)(alumn|alg|vertebr)ae$", "$1a"),
    ("(?i)(cod|mur|sil|vert|ind)ices$", "$1ex"),
    ("(?i)(matr|append)ices$", "$1ix"),
    ("(?i)(pe)(rson|ople)$", "$1rson"),
    ("(?i)(child)ren$", "$1"),
    ("(?i)(eau)x?$", "$1"),
    ("(?i)men$", "man"),
];

/// Words with one form for both, matched by pattern; tried before the rules.
const UNCOUNTABLE_PATTERNS: &[&str] = &[
    "(?i)pok[eé]mon$",
    "(?i)[^aeiou]ese$",
    "(?i)deer$",
    "(?i)fish$",
    "(?i)measles$",
    "(?i)o[iu]s$",
    "(?i)pox$",
    "(?i)sheep$",
];

/// Words with one form for both.
const UNCOUNTABLE: &[&str] = &[
    "adulthood",
    "advice",
    "agenda",
    "aid",
    "aircraft",
    "alcohol",
    "ammo",
    "analytics",
    "anime",
    "athletics",
    "audio",
    "bison",
    "blood",
    "bream",
    "buffalo",
    "butter",
    "carp",
    "cash",
    "chassis",
    "chess",
    "clothing",
    "cod",
    "commerce",
    "cooperation",
    "corps",
    "debris",
    "diabetes",
    "digestion",
    "elk",
    "energy",
    "equipment",
    "excretion",
    "expertise",
    "firmware",
    "flounder",
    "fun",
    "gallows",
    "garbage",
    "graffiti",
    "hardware",
    "headquarters",
    "health",
    "herpes",
    "highjinks",
    "homework",
    "housework",
    "information",
    "jeans",
    "justice",
    "kudos",
    "labour",
    "literature",
    "machinery",
    "mackerel",
    "mail",
    "media",
    "mews",
    "moose",
    "music",
    "mud",
    "manga",
    "news",
    "only",
    "personnel",
    "pike",
    "plankton",
    "pliers",
    "police",
    "pollution",
    "premises",
    "rain",
    "research",
    "rice",
    "salmon",
    "scissors",
    "series",
    "sewage",
    "shambles",
    "shrimp",
    "software",
    "staff",
    "swine",
    "tennis",
    "traffic",
    "transportation",
    "trout",
    "tuna",
    "wealth",
    "welfare",
    "whiting",
    "wildebeest",
    "wildlife",
    "you",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Singular and plural forms that reach every rule, irregular and uncountable words, in
    /// lower, upper and title case, and the empty word.
    const WORDS: &str = "\
        customer customers item items address addresses category categories invoice invoices total \
        totals email emails phone phones product products status statuses bus buses box boxes \
        church churches dish dishes buzz buzzes axis axes testis testes alias aliases atlas \
        atlases gas gases iris irises menu menus emu emus bias gala alumnus alumni radius radii \
        alga algae vertebra vertebrae seraph seraphim cherub hero heroes potato potatoes grotto \
        grottoes datum data medium criterion criteria phenomenon phenomena analysis analyses basis \
        bases knife knives wife wives life lives wolf wolves leaf leaves loaf hoof hooves elf \
        elves city cities query queries day days key keys money monies movie movies cookie cookies \
        pie pies tie ties zombie zombies matrix matrices index indices vertex vertices appendix \
        appendices codex mouse mice louse lice titmouse person people child children chateau \
        chateaux man men woman women thou you echo echoes ox oxen foot feet goose geese tooth \
        teeth quiz quizzes thief thieves schema schemata canvas canvases genus genera sheep fish \
        deer reindeer chinese measles smallpox pokemon series news equipment information software \
        staff police curriculum curricula symposium bacterium bacteria twelve abuse abuses test \
        tests dress dresses class classes process processes order orders user users account \
        accounts line_item line_items s ss Customers CUSTOMERS Person PEOPLE Category Matrix I we \
        They this these café pokémon Pokémon";

    #[test]
    fn inflects_as_the_pluralizer_crate_does() {
        for word in WORDS.split_whitespace().chain([""]) {
            assert_eq!(
                singular(word),
                pluralizer::pluralize(word, 1, false),
                "singular of {word:?}"
            );
            assert_eq!(
                plural(word),
                pluralizer::pluralize(word, 2, false),
                "plural of {word:?}"
            );
        }
    }

    #[test]
    fn table_names() {
        for (one, many) in [
            ("customer", "customers"),
            ("category", "categories"),
            ("address", "addresses"),
            ("person", "people"),
            ("status", "statuses"),
            ("matrix", "matrices"),
            ("sheep", "sheep"),
        ] {
            assert_eq!(singular(many), one);
            assert_eq!(plural(one), many);
            assert_eq!(plural(many), many);
            assert_eq!(singular(one), one);
        }
    }
}
