//! The certificate errors and their hints, in English and Simplified Chinese (see `crate::i18n`).

use crate::i18n::messages;

messages! {
    Read => "cannot read {0} {1}", "无法读取{0}：{1}";
    ReadHint => "check that {0} exists and is readable by matrixbox", "请确认 {0} 存在且 matrixbox 可以读取";
    Corrupt => "{0} at {1} is not usable: {2}", "{1} 处的{0}不可用：{2}";
    CorruptHint => "move {0} aside and restart matrixbox; it makes a new one (a certificate is then obtained again)",
        "请将 {0} 移到别处并重启 matrixbox；它会重新生成一个（随后会重新获取证书）";
    Files => "the certificate files {0} and {1} are not usable", "证书文件 {0} 和 {1} 不可用";
    FilesHint => "`tls.cert` must hold the PEM certificate chain (leaf first) and `tls.key` its PEM private key",
        "`tls.cert` 必须是 PEM 格式的证书链（叶证书在前），`tls.key` 必须是其 PEM 格式的私钥";
    BadCertificate => "{0} is not a usable certificate: {1}", "{0} 不是可用的证书：{1}";
    BadCertificateHint => "matrixbox keeps serving the current certificate and tries again later", "matrixbox 继续使用当前证书，并稍后重试";
    CaRoot => "cannot use {0} (acme.ca_root) as the root for the ACME directory", "无法将 {0}（acme.ca_root）用作 ACME 目录的根证书";
    CaRootHint => "`acme.ca_root` must be a PEM file with the root certificate of the ACME directory's own HTTPS certificate",
        "`acme.ca_root` 必须是 PEM 文件，内含 ACME 目录自身 HTTPS 证书的根证书";
    Acme => "cannot {0} {1}", "无法{0}：{1}";
    RateLimited => "the CA's rate limit was hit: matrixbox retries later by itself; while testing, use `acme.directory: letsencrypt-staging`",
        "触发了 CA 的频率限制：matrixbox 稍后会自动重试；测试期间请使用 `acme.directory: letsencrypt-staging`";
    Rejected => "the CA will not certify this name (a private or reserved name?): use `acme.directory: internal`",
        "CA 不会为此名称签发证书（是私有或保留名称吗？）：请使用 `acme.directory: internal`";
    Caa => "a CAA record in DNS forbids this CA from issuing for the name: add the CA to it",
        "DNS 中的 CAA 记录禁止此 CA 为该名称签发证书：请将此 CA 加入该记录";
    Contact => "fix `acme.email` in the configuration", "请修正配置中的 `acme.email`";
    Backoff => "matrixbox keeps serving the current certificate and retries with backoff (see `matrixbox status`)",
        "matrixbox 继续使用当前证书，并以退避方式重试（参见 `matrixbox status`）";
    Reach => "check that this host reaches {0} (DNS, firewall, proxy); matrixbox keeps serving the current certificate and retries with backoff",
        "请确认本机可以访问 {0}（DNS、防火墙、代理）；matrixbox 继续使用当前证书，并以退避方式重试";
    Order => "the order at {0} failed: {1}", "{0} 上的订单失败：{1}";
    OrderHint => "matrixbox retries with backoff; `matrixbox status` shows the last error", "matrixbox 会以退避方式重试；`matrixbox status` 显示最近的错误";
    Challenge => "the CA could not validate {0} with {1}: {2}", "CA 无法通过 {1} 验证 {0}：{2}";
    ChallengeHint => "make sure the name's DNS A/AAAA records point to this host and that port {0} is reachable from the internet; matrixbox retries by itself",
        "请确认该名称的 DNS A/AAAA 记录指向本机，且端口 {0} 可从互联网访问；matrixbox 会自动重试";
    NotOffered => "the CA at {0} offers no {1} challenge for {2}", "{0} 上的 CA 没有为 {2} 提供 {1} 验证";
    NotOfferedHint => "choose the other type with `acme.challenge` (http-01 or tls-alpn-01)", "请用 `acme.challenge` 选择另一种类型（http-01 或 tls-alpn-01）";
    Timeout => "no answer from {0} within {1} s", "{0} 在 {1} 秒内没有响应";
    NoListener => "no ACME challenge can be answered: the HTTP and HTTPS listeners are both disabled",
        "无法响应任何 ACME 验证：HTTP 和 HTTPS 监听器都已禁用";
    NoListenerHint => "enable `listen.http` or `listen.https`, use `acme.directory: internal`, or give your own certificate with `tls:`",
        "请启用 `listen.http` 或 `listen.https`，或使用 `acme.directory: internal`，或通过 `tls:` 提供你自己的证书";
    InternalCa => "the internal CA cannot {0}", "内部 CA 无法{0}";
    BugHint => "this is a bug in matrixbox or its certificate library; please report it", "这是 matrixbox 或其证书库的缺陷；请报告";
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_message_has_both_languages_with_the_same_placeholders() {
        crate::i18n::assert_complete(super::M::ALL);
    }
}
