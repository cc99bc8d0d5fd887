//! The translation engine every command uses: the reader's language (`Lang`, from the locale),
//! message lookup with `{0}`-style arguments, and columns padded by display width. Each module
//! keeps its own catalog (`messages!`), so any user-facing text can be English or Simplified Chinese.

use std::fmt::Display;

use unicode_width::UnicodeWidthStr;

mod phrases;
pub use phrases::phrase;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhCn,
}

/// Reports carry the language as its code (`en`, `zh_CN`).
impl serde::Serialize for Lang {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// The language chosen on the command line (`--lang`), which outranks the locale.
static CHOSEN: std::sync::OnceLock<Lang> = std::sync::OnceLock::new();

thread_local! {
    /// The language `Lang::scope` set for the text being rendered on this thread.
    static SCOPED: std::cell::Cell<Option<Lang>> = const { std::cell::Cell::new(None) };
}

impl Lang {
    /// Sets the language for the rest of the process (once, from `--lang`).
    pub fn choose(lang: Lang) {
        let _ = CHOSEN.set(lang);
    }

    /// The language `choose` set (`--lang`, or MATRIXBOX_LANG through it), if any.
    pub fn chosen() -> Option<Lang> {
        CHOSEN.get().copied()
    }

    /// The language this process speaks: the one `in_lang` set on this thread, else `--lang`
    /// when given, else the locale.
    pub fn current() -> Lang {
        SCOPED
            .get()
            .or_else(|| CHOSEN.get().copied())
            .unwrap_or_else(Lang::from_env)
    }

    /// Runs `f` with `current()` answering `self` on this thread: rendering one text in a
    /// language other than the process's (a report asked for in a language, a snapshot test).
    pub fn scope<R>(self, f: impl FnOnce() -> R) -> R {
        let outer = SCOPED.replace(Some(self));
        let result = f();
        SCOPED.set(outer);
        result
    }

    /// `en`, `zh_CN` (also `zh`, `zh-CN`, `zh_CN.UTF-8`): how `--lang` is written.
    pub fn parse(text: &str) -> Result<Lang, String> {
        let lower = text.to_ascii_lowercase().replace('-', "_");
        match lower.split('.').next().unwrap_or_default() {
            "en" | "en_us" | "en_gb" | "c" => Ok(Lang::En),
            "zh" | "zh_cn" | "zh_hans" => Ok(Lang::ZhCn),
            _ => Err(format!(
                "`{text}` is not a language matrixbox speaks; use `en` or `zh_CN`"
            )),
        }
    }

    /// The language the locale asks for: LC_ALL, then LC_MESSAGES, then LANG (POSIX order).
    pub fn from_env() -> Lang {
        Lang::from_vars(|name| std::env::var(name).ok())
    }

    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Lang {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .find_map(|name| get(name).filter(|v| !v.is_empty()));
        match locale {
            Some(l) if l.starts_with("zh_CN") => Lang::ZhCn,
            _ => Lang::En,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh_CN",
        }
    }

    /// The message in this language with `{0}`, `{1}`, ... replaced by `args`.
    pub fn t(self, message: impl Texts, args: &[&dyn Display]) -> String {
        let (en, zh) = message.texts();
        let mut text = match self {
            Lang::En => en,
            Lang::ZhCn => zh,
        }
        .to_string();
        for (i, arg) in args.iter().enumerate() {
            text = text.replace(&format!("{{{i}}}"), &arg.to_string());
        }
        text
    }
}

/// The message in the language of this process (`Lang::current`): what an error's `Display`
/// says, so that `error:` lines and their hints speak the reader's language.
pub fn tr(message: impl Texts, args: &[&dyn Display]) -> String {
    Lang::current().t(message, args)
}

/// A message catalog's key: its English and Simplified Chinese texts (preflight's `M`, doctor's).
pub trait Texts: Copy {
    fn texts(self) -> (&'static str, &'static str);
}

/// Declares a module's message catalog `M`: each key with its two texts side by side, so none can
/// lack a translation. `M::ALL` lists the keys for the catalog's test (`assert_complete`).
macro_rules! messages {
    ($($key:ident => $en:literal, $zh:literal;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum M { $($key),* }

        impl M {
            #[cfg(test)]
            pub const ALL: &[M] = &[$(M::$key),*];
        }

        impl $crate::i18n::Texts for M {
            fn texts(self) -> (&'static str, &'static str) {
                match self { $(M::$key => ($en, $zh)),* }
            }
        }
    };
}
pub(crate) use messages;

/// Columns a terminal gives the text: CJK and full-width characters take two.
pub fn width(text: &str) -> usize {
    text.width()
}

/// `text` followed by spaces up to `columns` display columns (never cut when it is wider).
pub fn pad(text: &str, columns: usize) -> String {
    format!("{text}{}", " ".repeat(columns.saturating_sub(width(text))))
}

/// For each table's test: every message has both texts, with the same placeholders.
#[cfg(test)]
pub(crate) fn assert_complete<T: Texts + std::fmt::Debug>(all: &[T]) {
    fn placeholders(text: &str) -> Vec<String> {
        let mut found: Vec<String> = (0..10)
            .map(|i| format!("{{{i}}}"))
            .filter(|p| text.contains(p.as_str()))
            .collect();
        found.sort();
        found
    }
    for m in all {
        let (en, zh) = m.texts();
        assert!(!en.is_empty() && !zh.is_empty(), "{m:?}");
        assert_eq!(placeholders(en), placeholders(zh), "{m:?}: {en} / {zh}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lang_flag_accepts_the_usual_spellings() {
        for text in ["zh_CN", "zh", "zh-CN", "zh_CN.UTF-8", "ZH_cn"] {
            assert_eq!(Lang::parse(text), Ok(Lang::ZhCn), "{text}");
        }
        for text in ["en", "en_US.UTF-8", "C"] {
            assert_eq!(Lang::parse(text), Ok(Lang::En), "{text}");
        }
        assert!(Lang::parse("fr").unwrap_err().contains("`en` or `zh_CN`"));
    }

    #[test]
    fn locale_selection_follows_posix_precedence() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Lang::from_vars(env(&[])), Lang::En);
        assert_eq!(Lang::from_vars(env(&[("LANG", "zh_CN.UTF-8")])), Lang::ZhCn);
        assert_eq!(
            Lang::from_vars(env(&[("LANG", "zh_CN.UTF-8"), ("LC_ALL", "C")])),
            Lang::En
        );
        assert_eq!(
            Lang::from_vars(env(&[
                ("LANG", "en_US.UTF-8"),
                ("LC_MESSAGES", "zh_CN.GB18030")
            ])),
            Lang::ZhCn
        );
        assert_eq!(
            Lang::from_vars(env(&[
                ("LC_MESSAGES", "en_US.UTF-8"),
                ("LC_ALL", "zh_CN.UTF-8")
            ])),
            Lang::ZhCn,
            "LC_ALL overrides the others"
        );
        assert_eq!(
            Lang::from_vars(env(&[("LC_ALL", ""), ("LANG", "zh_CN")])),
            Lang::ZhCn,
            "empty variables are skipped"
        );
        assert_eq!(
            Lang::from_vars(env(&[("LANG", "zh_TW.UTF-8")])),
            Lang::En,
            "only Simplified Chinese is translated"
        );
    }

    #[test]
    fn language_codes_as_reports_carry_them() {
        assert_eq!(Lang::En.code(), "en");
        assert_eq!(Lang::ZhCn.code(), "zh_CN");
        assert_eq!(serde_json::to_string(&Lang::ZhCn).unwrap(), "\"zh_CN\"");
    }

    #[derive(Debug, Clone, Copy)]
    enum Sample {
        Port,
        Plain,
    }

    impl Texts for Sample {
        fn texts(self) -> (&'static str, &'static str) {
            match self {
                Sample::Port => (
                    "port {0} is used by {1} (pid {2}); {0} again",
                    "端口 {0} 被 {1}（pid {2}）占用；又是 {0}",
                ),
                Sample::Plain => ("ready", "就绪"),
            }
        }
    }

    #[test]
    fn lookup_picks_the_language_and_fills_every_placeholder() {
        assert_eq!(
            Lang::En.t(Sample::Port, &[&443, &"nginx", &812]),
            "port 443 is used by nginx (pid 812); 443 again"
        );
        assert_eq!(
            Lang::ZhCn.t(Sample::Port, &[&443, &"nginx", &812]),
            "端口 443 被 nginx（pid 812）占用；又是 443"
        );
        assert_eq!(Lang::ZhCn.t(Sample::Plain, &[]), "就绪");
        assert_complete(&[Sample::Port, Sample::Plain]);
    }

    #[test]
    fn cjk_and_full_width_characters_take_two_columns() {
        assert_eq!(width(""), 0);
        assert_eq!(width("memory"), 6);
        assert_eq!(width("内存"), 4);
        assert_eq!(width("CPU 核数"), 8);
        assert_eq!(width("端口 443（https）"), 17);
        // Arrows and ellipses in evidence are one column, as terminals draw them in a CJK locale too.
        assert_eq!(width("a → b …"), 7);
    }

    #[test]
    fn padding_fills_to_the_display_width() {
        assert_eq!(pad("pass", 6), "pass  ");
        assert_eq!(pad("通过", 6), "通过  ");
        assert_eq!(pad("内存", 8), "内存    ");
        assert_eq!(pad("CPU 核数", 8), "CPU 核数");
        assert_eq!(pad("operating system", 4), "operating system", "never cut");
        assert_eq!(width(&pad("端口 443（https）", 20)), 20);
    }
}
