//! Every text of `matrixbox images` in English and Simplified Chinese (see `crate::i18n`).

use crate::i18n::messages;

messages! {
    Exporting => "exporting {0}", "正在导出 {0}";
    Importing => "checking and loading {0}", "正在校验并导入 {0}";
    Exported => "wrote {0} ({1} MB): {2} images, readable only by you; copy it to the host without registry access and run `matrixbox images import {0}` there",
        "已写入 {0}（{1} MB）：共 {2} 个镜像，仅你可读；请复制到无法访问镜像仓库的主机，并在其上执行 `matrixbox images import {0}`";
    ImageLine => "  {0}: {1} (image {2})", "  {0}：{1}（镜像 {2}）";
    Imported => "loaded and verified {0} images from {1}; `matrixbox run` now starts without pulling",
        "已从 {1} 导入并校验 {0} 个镜像；`matrixbox run` 现在无需拉取即可启动";
    TaggedAs => "  {0}: image {1}, tagged {2}", "  {0}：镜像 {1}，标记为 {2}";
    NoContainers => "this installation fronts an existing Synapse (`upstream:`): matrixbox manages no images",
        "本安装只代理已有的 Synapse（`upstream:`）：matrixbox 不管理任何镜像";
    NoContainersHint => "export and import the images where matrixbox runs the containers", "请在由 matrixbox 运行容器的主机上导出和导入镜像";
    WriteFailed => "cannot write the image archive {0}: {1}", "无法写入镜像归档 {0}：{1}";
    WriteFailedHint => "choose a writable place with room for the images (about 1 GB), e.g. `matrixbox images export /root/matrixbox-images.tar`; nothing was left behind",
        "请选择可写且有足够空间（约 1 GB）的位置，例如 `matrixbox images export /root/matrixbox-images.tar`；未留下任何残余文件";
    ReadFailed => "cannot read the image archive {0}: {1}", "无法读取镜像归档 {0}：{1}";
    NotAnArchive => "{0} is not an image archive made by `matrixbox images export`: {1}", "{0} 不是由 `matrixbox images export` 生成的镜像归档：{1}";
    ArchiveHint => "make the archive again with `matrixbox images export FILE` on a host that reaches a registry, and copy it whole (compare `sha256sum` on both hosts); nothing was loaded",
        "请在能访问镜像仓库的主机上重新执行 `matrixbox images export FILE`，并完整复制（可在两台主机上对比 `sha256sum`）；未导入任何内容";
    Missing => "{0} has no {1} image, which this configuration needs ({2})", "{0} 中没有本配置所需的 {1} 镜像（{2}）";
    MissingHint => "export again with the same `images:` in matrixbox.yaml as here; nothing was loaded",
        "请在 matrixbox.yaml 的 `images:` 与本机相同的情况下重新导出；未导入任何内容";
    PinMismatch => "the {0} image in {1} is not the one {2} is pinned to: the archive vouches for {3}",
        "{1} 中的 {0} 镜像不是 {2} 所固定的版本：归档对应的是 {3}";
    PinMismatchHint => "export on a host whose matrixbox.yaml pins the same digest under `images:`, or pin the archive's digest here if you trust it; nothing was loaded",
        "请在 `images:` 固定了相同摘要的主机上导出；如果信任归档中的镜像，也可以在本机改为固定它的摘要；未导入任何内容";
    RecordMismatch => "the {0} image in {1} is {2}, but {3} was {4} when matrixbox first used it",
        "{1} 中的 {0} 镜像是 {2}，但 matrixbox 首次使用 {3} 时它是 {4}";
    RecordMismatchHint => "find out why the image differs before using it; if you trust it, pin its digest under `images:` in matrixbox.yaml (or delete the entry from {0}), and import again; nothing was loaded",
        "使用前请先查明镜像为何不同；如果信任它，请在 matrixbox.yaml 的 `images:` 中固定其摘要（或从 {0} 删除该记录），然后重新导入；未导入任何内容";
    Tampered => "{0} is damaged or was altered: the {1} image's layer {2} hashes to {3}, but its configuration names {4}",
        "{0} 已损坏或被篡改：{1} 镜像的层 {2} 的哈希为 {3}，但其配置中记录的是 {4}";
    TamperedMissing => "{0} is damaged or was altered: it does not hold the {1} image (ID {2}) its manifest names",
        "{0} 已损坏或被篡改：其中没有清单所列的 {1} 镜像（ID {2}）";
    TamperedOther => "{0} is damaged or was altered: {1}", "{0} 已损坏或被篡改：{1}";
    NotLoaded => "the engine did not load the {0} image (ID {1}) from {2}", "Docker 引擎未从 {2} 导入 {0} 镜像（ID {1}）";
    NotLoadedHint => "see `docker images` and the engine's log (`journalctl -u docker`); nothing was tagged",
        "请查看 `docker images` 与引擎日志（`journalctl -u docker`）；未标记任何镜像";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages_with_the_same_placeholders() {
        crate::i18n::assert_complete(M::ALL);
    }
}
