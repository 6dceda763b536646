//! Just enough DER to find a certificate's URI subject alternative names.
//!
//! The chain has already been verified by webpki when this runs, so the input
//! is a well-formed certificate; the reader still checks every length and
//! gives up (`None`) rather than panic on anything unexpected.

/// A DER element: its tag and its contents.
struct Element<'a> {
    tag: u8,
    contents: &'a [u8],
}

/// Splits the first element off `input`.
fn next(input: &[u8]) -> Option<(Element<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let length = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (length, rest)
    };
    if rest.len() < length {
        return None;
    }
    let (contents, rest) = rest.split_at(length);
    Some((Element { tag, contents }, rest))
}

/// The elements inside a constructed element's contents.
fn children(mut contents: &[u8]) -> impl Iterator<Item = Element<'_>> {
    std::iter::from_fn(move || {
        let (element, rest) = next(contents)?;
        contents = rest;
        Some(element)
    })
}

const SEQUENCE: u8 = 0x30;
const EXTENSIONS: u8 = 0xa3; // [3] EXPLICIT in TBSCertificate
const OID: u8 = 0x06;
const OCTET_STRING: u8 = 0x04;
const URI_NAME: u8 = 0x86; // [6] IMPLICIT IA5String in GeneralName
/// id-ce-subjectAltName, 2.5.29.17.
const SUBJECT_ALT_NAME: [u8; 3] = [0x55, 0x1d, 0x11];

/// The URI names in the certificate's subjectAltName extension.
pub(crate) fn uri_sans(certificate: &[u8]) -> Option<Vec<&str>> {
    let (certificate, _) = next(certificate).filter(|(e, _)| e.tag == SEQUENCE)?;
    let tbs = children(certificate.contents).next()?;
    if tbs.tag != SEQUENCE {
        return None;
    }
    let extensions = children(tbs.contents).find(|e| e.tag == EXTENSIONS)?;
    let (list, _) = next(extensions.contents).filter(|(e, _)| e.tag == SEQUENCE)?;
    for extension in children(list.contents) {
        let mut fields = children(extension.contents);
        let oid = fields.next()?;
        if oid.tag != OID || oid.contents != SUBJECT_ALT_NAME {
            continue;
        }
        // An optional `critical` BOOLEAN may precede the value.
        let value = fields.find(|e| e.tag == OCTET_STRING)?;
        let (names, _) = next(value.contents).filter(|(e, _)| e.tag == SEQUENCE)?;
        return Some(
            children(names.contents)
                .filter(|name| name.tag == URI_NAME)
                .filter_map(|name| std::str::from_utf8(name.contents).ok())
                .collect(),
        );
    }
    Some(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_or_garbage_input_is_none_not_a_panic() {
        assert!(uri_sans(&[]).is_none());
        assert!(uri_sans(&[0x30]).is_none());
        assert!(uri_sans(&[0x30, 0x85, 1, 2, 3, 4, 5]).is_none());
        assert!(uri_sans(&[0x30, 0x82, 0xff, 0xff, 0]).is_none());
        assert!(uri_sans(&[0x04, 0x00]).is_none());
    }
}
