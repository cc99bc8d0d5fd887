//! The engine's errors and their hints, in English and Simplified Chinese (see `crate::i18n`).

use crate::i18n::{Lang, messages};

messages! {
    Unreachable => "cannot reach the Docker engine at {0}", "无法连接 {0} 上的 Docker 引擎";
    UnreachableHint => "install and start Docker (`apt install docker.io && systemctl start docker`), or point DOCKER_HOST at a running engine",
        "请安装并启动 Docker（`apt install docker.io && systemctl start docker`），或将 DOCKER_HOST 指向正在运行的引擎";
    TooOld => "the Docker engine at {0} is too old: API {1}, matrixbox needs {2} (Docker 20.10) or newer",
        "{0} 上的 Docker 引擎版本过旧：API {1}，matrixbox 需要 {2}（Docker 20.10）或更新版本";
    TooOldHint => "upgrade Docker to 20.10 or newer (Debian 12's docker.io is new enough)",
        "请将 Docker 升级到 20.10 或更新版本（Debian 12 的 docker.io 已足够新）";
    Api => "Docker could not {0} {1}", "Docker 无法{0}：{1}";
    ApiHint => "see the cause above; `docker info` shows the engine's state", "请查看上面的原因；`docker info` 可显示引擎状态";
    PullFailed => "image {0} is not on this host and pulling it failed: {1}", "本机没有镜像 {0}，且拉取失败：{1}";
    PullHint => "check that the registry is reachable from this host; where Docker Hub is slow or blocked, set `registry_mirror:` in matrixbox.yaml, or bring the images with `matrixbox images export` on a connected host and `matrixbox images import` here, then run again",
        "请确认本机可以访问镜像仓库；若 Docker Hub 缓慢或被屏蔽，请在 matrixbox.yaml 中设置 `registry_mirror:`，或在能联网的主机上执行 `matrixbox images export`、在本机执行 `matrixbox images import` 导入镜像，然后重试";
    PortInUse => "cannot publish {0} on 127.0.0.1:{1}: the port is already in use", "无法在 127.0.0.1:{1} 上发布 {0}：端口已被占用";
    PortHint => "stop what listens on port {0} (`ss -ltnp | grep :{0}`), then run again", "请停止监听端口 {0} 的程序（`ss -ltnp | grep :{0}`），然后重试";
    DigestMismatch => "image {0} is pinned to digest {1}, but its tag names {2}", "镜像 {0} 固定为摘要 {1}，但其标签指向 {2}";
    MismatchHint => "check the digest after `@` under `images:` in matrixbox.yaml; if you trust the image the tag names now, pin `@{0}` instead, and run again",
        "请检查 matrixbox.yaml 中 `images:` 下 `@` 之后的摘要；若你信任该标签现在指向的镜像，请改为固定 `@{0}`，然后重试";
    DigestChanged => "image {0} was {1} when matrixbox first used it, but is now {2}: the tag was re-pushed with other contents",
        "matrixbox 首次使用镜像 {0} 时它是 {1}，但现在是 {2}：该标签已被重新推送为其他内容";
    ChangedHint => "find out why the tag changed before running it; if you trust the new image, accept it by pinning it: append `@{0}` to its tag under `images:` in matrixbox.yaml (or delete its entry from {1}), and run again",
        "运行之前请先查明标签为何改变；若你信任新镜像，请固定它以接受：在 matrixbox.yaml 的 `images:` 中为其标签追加 `@{0}`（或从 {1} 中删除其条目），然后重试";
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
