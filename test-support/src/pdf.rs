//! PDFs for extraction tests: small ones written with lopdf, one line of text per page, and
//! hostile ones written byte by byte (a compression bomb, a deeply nested document).

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};

/// A valid PDF whose page `n` shows the lines of `pages[n]`.
pub fn sample_pdf(pages: &[&[&str]]) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica", "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids = Vec::new();
    for lines in pages {
        let mut operations = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new("TL", vec![14.into()]),
            Operation::new("Td", vec![72.into(), 770.into()]),
        ];
        for line in *lines {
            operations.push(Operation::new("Tj", vec![Object::string_literal(*line)]));
            operations.push(Operation::new("T*", vec![]));
        }
        operations.push(Operation::new("ET", vec![]));
        let content = Content { operations }.encode().expect("encode page content");
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = i64::try_from(kids.len()).expect("page count");
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count, "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("write the PDF");
    out
}

/// How [`text_pdf`] lays text out: at most this many characters a line (about the width of A4
/// in 12 pt Helvetica, so the pages read as printed ones), this many lines a page.
const LINE_CHARS: usize = 78;
const PAGE_LINES: usize = 50;

/// A PDF of a plain-text document, as the evaluation set's PDFs are made from their text sources
/// (eval/README.md): each line of `text` wrapped at spaces, an empty line kept, pages in order.
/// The same text always gives the same bytes, so a committed PDF can be checked against it.
pub fn text_pdf(text: &str) -> Vec<u8> {
    let lines: Vec<String> = text.lines().flat_map(|line| wrap(line, LINE_CHARS)).collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let pages: Vec<&[&str]> = lines.chunks(PAGE_LINES).collect();
    sample_pdf(&pages)
}

/// `line` cut at spaces into lines of at most `width` characters (a longer word gets a line of
/// its own); an empty line stays one empty line, so paragraphs stay apart on the page.
fn wrap(line: &str, width: usize) -> Vec<String> {
    let mut out = vec![String::new()];
    for word in line.split_whitespace() {
        let current = out.last_mut().expect("out starts with a line");
        if current.is_empty() {
            current.push_str(word);
        } else if current.chars().count() + 1 + word.chars().count() <= width {
            current.push(' ');
            current.push_str(word);
        } else {
            out.push(word.to_owned());
        }
    }
    out
}

/// A PDF written byte by byte, for shapes lopdf's writer cannot make: `objects[i]` is the body
/// of object `i + 1`, object 1 is the catalog, and the cross-reference table is exact.
pub fn raw_pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1)
            .as_bytes(),
    );
    out
}

/// A stream object's body: `dict` (without its `<< >>`) around `data` as it is stored.
pub fn stream_object(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut body = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(b"\nendstream");
    body
}

/// The first five objects of a one-page PDF that shows `line`: catalog, pages, page, content,
/// font. `extra` goes into the page dictionary.
fn one_page(line: &str, extra: &str) -> Vec<Vec<u8>> {
    let content = format!("BT /F1 12 Tf 72 720 Td ({line}) Tj ET");
    vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
             /Resources << /Font << /F1 5 0 R >> >> {extra} >>"
        )
        .into_bytes(),
        stream_object("", content.as_bytes()),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec(),
    ]
}

/// `data` deflated `times` over: each pass takes the last one's output, as a
/// `/Filter [/FlateDecode /FlateDecode]` stream is read back.
pub fn deflate(data: impl IntoIterator<Item = Vec<u8>>, times: usize) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    for piece in data {
        encoder.write_all(&piece).expect("deflate into memory");
    }
    let mut out = encoder.finish().expect("deflate into memory");
    for _ in 1..times {
        out = deflate([out], 1);
    }
    out
}

/// A compression bomb: a one-page PDF that reads "Quarterly report", plus `streams` object
/// streams, each stored deflated twice, that inflate to one array of `zeros` integers each
/// (2 bytes apiece, so `2 * zeros` bytes). A PDF reader that loads object streams eagerly holds
/// every integer as an object: far more memory than the inflated bytes, which themselves stay
/// under a per-stream decompression limit of a few tens of MiB.
pub fn compression_bomb_pdf(streams: usize, zeros: usize) -> Vec<u8> {
    let mut objects = one_page("Quarterly report", "");
    for s in 0..streams {
        let header = format!("{} 0 ", 1000 + s);
        let pieces = std::iter::once(format!("{header}[").into_bytes())
            .chain((0..zeros / 4096).map(|_| b"0 ".repeat(4096)))
            .chain(std::iter::once(b"0 ".repeat(zeros % 4096)))
            .chain(std::iter::once(b"]".to_vec()));
        let data = deflate(pieces, 2);
        objects.push(stream_object(
            &format!("/Type /ObjStm /N 1 /First {} /Filter [/FlateDecode /FlateDecode]", header.len()),
            &data,
        ));
    }
    raw_pdf(&objects)
}

/// A one-page PDF that reads "Nested", with arrays and dictionaries nested `depth` deep: in an
/// object of their own, in the page dictionary and in the page's content stream.
pub fn deeply_nested_pdf(depth: usize) -> Vec<u8> {
    let arrays = [b"[".repeat(depth), b"]".repeat(depth)].concat();
    let dicts = [b"<< /A ".repeat(depth), b">> ".repeat(depth)].concat();
    let mut objects = one_page("Nested", "/Annots 6 0 R /Extra 7 0 R");
    objects.push(arrays.clone());
    objects.push(dicts);
    let content = [&b"BT /F1 12 Tf 72 700 Td "[..], &arrays, b" TJ ET"].concat();
    objects.push(stream_object("", &content));
    // The page also draws the nested content stream after its own.
    objects[2] = String::from_utf8_lossy(&objects[2])
        .replace("/Contents 4 0 R", "/Contents [4 0 R 8 0 R]")
        .into_bytes();
    raw_pdf(&objects)
}
