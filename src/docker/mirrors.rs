//! Making sure an image is on the engine: the first candidate reference already there, else a
//! pull from each registry mirror in order; then its digest checked against the pin and the
//! record (and, for images brought by `images import`, the digests its archive vouched for).

use std::path::Path;

use super::digests::{self, ImageDigests, Verdict};
use super::{DockerError, Engine};

impl Engine {
    /// Ensures one of `candidates` (the same image through each mirror, in order) is on the
    /// engine and verified, and returns the reference containers should be made from. A candidate
    /// already present wins over pulling, so the answer stays the same from run to run.
    pub async fn ensure_image(
        &self,
        candidates: &[String],
        record: &Path,
    ) -> Result<String, DockerError> {
        let (image, observed) = match self.locate(candidates, record).await? {
            Some(found) => found,
            None => self.pull_first(candidates).await?,
        };
        self.verify(&image, candidates, &observed, record)?;
        Ok(image)
    }

    /// The reference to run without pulling: the first candidate on the engine, else the first
    /// candidate (which `ensure_image` will pull).
    pub async fn resolve_local(
        &self,
        candidates: &[String],
        record: &Path,
    ) -> Result<String, DockerError> {
        Ok(match self.locate(candidates, record).await? {
            Some((image, _)) => image,
            None => candidates[0].clone(),
        })
    }

    /// The first candidate on the engine, with its digests. A pinned candidate brought by
    /// `images import` has no registry digest on the engine, so its tag is used when the
    /// archive vouched for the pin (and the digest check then holds it to that).
    async fn locate(
        &self,
        candidates: &[String],
        record: &Path,
    ) -> Result<Option<(String, ImageDigests)>, DockerError> {
        let vouched = digests::load_vouched(&digests::vouched_path(record))?;
        for candidate in candidates {
            if let Some(observed) = self.image_digests(candidate).await? {
                return Ok(Some((candidate.clone(), observed)));
            }
            let (reference, Some(pin)) = digests::split_pin(candidate) else {
                continue;
            };
            if let Some(observed) = self.image_digests(reference).await?
                && digests::vouches(&vouched, &observed, pin)
            {
                return Ok(Some((reference.to_string(), observed)));
            }
        }
        Ok(None)
    }

    /// Pulls the candidates in order until one succeeds; every failure is kept for the error.
    async fn pull_first(
        &self,
        candidates: &[String],
    ) -> Result<(String, ImageDigests), DockerError> {
        let mut attempts = Vec::new();
        for candidate in candidates {
            match super::pull::pull(&self.docker, candidate).await {
                Ok(()) => {
                    let observed = self.image_digests(candidate).await?.ok_or_else(|| {
                        DockerError::PullFailed {
                            image: candidate.clone(),
                            message: "the engine reported success but has no such image".into(),
                        }
                    })?;
                    if !attempts.is_empty() {
                        tracing::info!(image = %candidate, "pulled after {} mirror(s) failed", attempts.len());
                    }
                    return Ok((candidate.clone(), observed));
                }
                Err(e) => {
                    tracing::warn!(image = %candidate, "pull failed: {e}");
                    attempts.push((candidate.clone(), e));
                }
            }
        }
        // A wrong pin shows as a failed pull: the first registry whose tag names another image
        // explains it with both digests.
        for (candidate, _) in &attempts {
            if let Some(mismatch) = self.explain_pinned_pull(candidate).await {
                return Err(mismatch);
            }
        }
        let mut attempts = attempts.into_iter();
        let (image, first) = attempts.next().expect("there is always a candidate");
        let rest: Vec<(String, String)> = attempts.map(|(r, e)| (r, pull_message(e))).collect();
        if rest.is_empty() {
            return Err(first);
        }
        Err(DockerError::NoMirrorAnswered {
            image: digests::split_pin(&image).0.to_string(),
            attempts: std::iter::once((image, pull_message(first)))
                .chain(rest)
                .collect(),
        })
    }

    /// Checks `image` against its pin and the record, recording its digest the first time.
    fn verify(
        &self,
        image: &str,
        candidates: &[String],
        observed: &ImageDigests,
        record: &Path,
    ) -> Result<(), DockerError> {
        // The pin is the candidate's, also when the tag of an imported image stands in for it.
        let pinned_as = candidates
            .iter()
            .find(|c| c.as_str() == image || digests::split_pin(c).0 == image)
            .map_or(image, String::as_str);
        let (reference, pinned) = digests::split_pin(pinned_as);
        let vouched = digests::load_vouched(&digests::vouched_path(record))?;
        let observed = digests::with_vouched(observed, reference, &vouched);
        let mut recorded = digests::load(record)?;
        match digests::judge(
            reference,
            pinned,
            recorded.get(reference).map(String::as_str),
            &observed,
        ) {
            Verdict::Accept => Ok(()),
            Verdict::Record(digest) => {
                tracing::info!(image, digest, "recording the image's digest");
                recorded.insert(reference.to_string(), digest);
                Ok(digests::save(record, &recorded)?)
            }
            Verdict::PinMismatch { found } => Err(DockerError::DigestMismatch {
                image: pinned_as.to_string(),
                expected: pinned.unwrap_or_default().to_string(),
                found,
            }),
            Verdict::Changed { recorded, found } => Err(DockerError::DigestChanged {
                image: pinned_as.to_string(),
                recorded,
                found,
                record: record.display().to_string(),
            }),
        }
    }

    /// A pinned pull fails when the registry has no such digest under that name; pulling the
    /// tag alone then tells what it names, so the error can show both digests.
    async fn explain_pinned_pull(&self, image: &str) -> Option<DockerError> {
        let (reference, Some(expected)) = digests::split_pin(image) else {
            return None;
        };
        if !digests::has_tag(reference) || super::pull::pull(&self.docker, reference).await.is_err()
        {
            return None;
        }
        match self.image_digests(reference).await {
            // The tag does name the pin: the pinned pull failed for another reason.
            Ok(Some(observed)) if observed.has(expected) => None,
            Ok(Some(observed)) => Some(DockerError::DigestMismatch {
                image: image.to_string(),
                expected: expected.to_string(),
                found: observed.primary(reference),
            }),
            _ => None,
        }
    }
}

fn pull_message(e: DockerError) -> String {
    match e {
        DockerError::PullFailed { message, .. } => message,
        other => other.to_string(),
    }
}
