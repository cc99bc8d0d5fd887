//! The engine errors added for registry mirrors, in English and Simplified Chinese (see
//! `crate::i18n`); the older engine errors are English only until they move here.

use crate::i18n::{Lang, messages};

messages! {
    NoMirror => "image {0} is not on this host and no registry mirror has it:{1}",
        "本机没有镜像 {0}，且所有镜像源都无法提供：{1}";
    NoMirrorHint => "check that at least one mirror under `registry_mirror:` in matrixbox.yaml is reachable from this host (`matrixbox preflight` checks each), add `docker.io` to the list to fall back to Docker Hub, or bring the images with `matrixbox images export` on a connected host and `matrixbox images import` here, then run again",
        "请确认 matrixbox.yaml 中 `registry_mirror:` 里至少有一个镜像源可从本机访问（`matrixbox preflight` 会逐个检查），或在列表中加入 `docker.io` 以回退到 Docker Hub，或在能联网的主机上执行 `matrixbox images export`、在本机执行 `matrixbox images import` 导入镜像，然后重试";
}

/// `image`, then each reference tried and why it failed, on its own line, in the reader's language.
pub fn no_mirror(image: &str, attempts: &[(String, String)]) -> String {
    let lines: String = attempts
        .iter()
        .map(|(reference, why)| format!("\n  {reference}: {why}"))
        .collect();
    Lang::current().t(M::NoMirror, &[&image, &lines])
}

pub fn no_mirror_hint() -> String {
    Lang::current().t(M::NoMirrorHint, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages_with_the_same_placeholders() {
        crate::i18n::assert_complete(M::ALL);
    }

    #[test]
    fn each_attempt_is_named_on_its_own_line() {
        let attempts = [
            ("a.example/pg:15".to_string(), "refused".to_string()),
            ("b.example/pg:15".to_string(), "timed out".to_string()),
        ];
        let lines = "\n  a.example/pg:15: refused\n  b.example/pg:15: timed out";
        assert_eq!(
            no_mirror("pg:15", &attempts).replace(
                "本机没有镜像 pg:15，且所有镜像源都无法提供：",
                "image pg:15 is not on this host and no registry mirror has it:"
            ),
            format!("image pg:15 is not on this host and no registry mirror has it:{lines}")
        );
        assert_eq!(
            Lang::En.t(M::NoMirror, &[&"pg:15", &lines]),
            format!("image pg:15 is not on this host and no registry mirror has it:{lines}")
        );
        assert!(
            Lang::ZhCn
                .t(M::NoMirror, &[&"pg:15", &lines])
                .ends_with(lines)
        );
    }
}
