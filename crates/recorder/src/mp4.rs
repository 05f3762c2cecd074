//! Faststart from a moov-at-end MP4 without moving its media: the index
//! (`moov`) goes first, its chunk offsets moved by the length of what now
//! precedes the media, and the media bytes follow unchanged. So a clip
//! written while it recorded can be stored as a faststart object whose
//! media was uploaded before the index existed: only the header (`ftyp`,
//! the moved `moov`, the `mdat` header) is new.
//!
//! The header can be made a given length: the media box may open with
//! unused bytes (offsets point to samples, so nothing reads them), which
//! lets the header fill an upload's first part exactly.

use crate::RecordError;
use std::{io::Read, io::Seek, io::SeekFrom, path::Path};

/// The largest `moov` read: an hour of 60 fps video with audio needs
/// about 4 MiB.
const MOOV_MAX: u64 = 64 * 1024 * 1024;

/// The faststart form of a clip: `header`, then the clip's bytes `media`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaststartHead {
    pub header: Vec<u8>,
    pub media: std::ops::Range<u64>,
}

/// A top-level box: where it starts, its header's length, its whole length.
#[derive(Debug, Clone, Copy)]
struct TopBox {
    kind: [u8; 4],
    at: u64,
    header: u64,
    len: u64,
}

fn bad(what: impl Into<String>) -> RecordError {
    RecordError::finalize(format!("not a finished MP4: {}", what.into()))
}

fn top_boxes(f: &mut std::fs::File, file_len: u64) -> Result<Vec<TopBox>, RecordError> {
    let mut boxes = Vec::new();
    let mut at = 0u64;
    while at + 8 <= file_len {
        f.seek(SeekFrom::Start(at))?;
        let mut h = [0u8; 16];
        f.read_exact(&mut h[..8])?;
        let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let kind = [h[4], h[5], h[6], h[7]];
        let (header, len) = match size32 {
            0 => return Err(bad("a box without a size (an unfinished file)")),
            1 => {
                f.read_exact(&mut h[8..16])?;
                let mut l = [0u8; 8];
                l.copy_from_slice(&h[8..16]);
                (16, u64::from_be_bytes(l))
            }
            n => (8, u64::from(n)),
        };
        if len < header || at + len > file_len {
            return Err(bad("a box runs past the end of the file"));
        }
        boxes.push(TopBox {
            kind,
            at,
            header,
            len,
        });
        at += len;
    }
    Ok(boxes)
}

/// The `ftyp`, `mdat` and `moov` of a moov-at-end clip, one of each.
fn moov_at_end(f: &mut std::fs::File) -> Result<[TopBox; 3], RecordError> {
    let file_len = f.metadata()?.len();
    let boxes = top_boxes(f, file_len)?;
    let find = |k: &[u8; 4]| {
        let mut it = boxes.iter().filter(|b| &b.kind == k);
        match (it.next(), it.next()) {
            (Some(b), None) => Ok(*b),
            _ => Err(bad(format!(
                "not exactly one {}",
                String::from_utf8_lossy(k)
            ))),
        }
    };
    let (ftyp, mdat, moov) = (find(b"ftyp")?, find(b"mdat")?, find(b"moov")?);
    if !(ftyp.at == 0 && mdat.at < moov.at) {
        return Err(bad("not ftyp … mdat … moov"));
    }
    Ok([ftyp, mdat, moov])
}

/// Whether the clip's `moov` comes before its `mdat` (or it can't be told:
/// then it is left as it is).
pub fn is_faststart(path: &Path) -> Result<bool, RecordError> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let boxes = top_boxes(&mut f, len)?;
    let at = |k: &[u8; 4]| boxes.iter().position(|b| &b.kind == k);
    match (at(b"moov"), at(b"mdat")) {
        (Some(m), Some(d)) => Ok(m < d),
        _ => Err(bad("no moov or no mdat")),
    }
}

/// The faststart header of the moov-at-end clip at `path`, `header_len`
/// bytes long when given (the shortest otherwise). Fails when the clip is
/// not one `ftyp`, one `mdat`, then one `moov`, or when its index does not
/// fit in `header_len`.
pub fn faststart_head(path: &Path, header_len: Option<u64>) -> Result<FaststartHead, RecordError> {
    let mut f = std::fs::File::open(path)?;
    let [ftyp, mdat, moov] = moov_at_end(&mut f)?;
    if moov.len > MOOV_MAX {
        return Err(bad("an index too large"));
    }
    let media = mdat.at + mdat.header..mdat.at + mdat.len;
    let read = |f: &mut std::fs::File, b: TopBox| -> Result<Vec<u8>, RecordError> {
        let mut v = vec![0u8; b.len as usize];
        f.seek(SeekFrom::Start(b.at))?;
        f.read_exact(&mut v)?;
        Ok(v)
    };
    let ftyp_bytes = read(&mut f, ftyp)?;
    let mut moov_bytes = read(&mut f, moov)?;
    let media_len = media.end - media.start;
    let shortest = ftyp.len + moov.len + 8;
    let total = header_len.unwrap_or(shortest);
    if total < shortest {
        return Err(RecordError::finalize(format!(
            "the clip's index ({} bytes) does not fit in a {total}-byte header",
            moov.len
        )));
    }
    // The media box: its header, unused bytes up to `total`, the media.
    let mdat_len = total - ftyp.len - moov.len + media_len;
    let wide = mdat_len > u64::from(u32::MAX);
    if wide && total < shortest + 8 {
        return Err(RecordError::finalize(
            "no room for a 64-bit media box header",
        ));
    }
    // Media byte x of the clip lands at x + shift.
    let shift = i128::from(total) - i128::from(media.start);
    move_chunk_offsets(&mut moov_bytes, shift)?;

    let mut header = Vec::with_capacity(total as usize);
    header.extend_from_slice(&ftyp_bytes);
    header.extend_from_slice(&moov_bytes);
    if !wide {
        header.extend_from_slice(&(mdat_len as u32).to_be_bytes());
        header.extend_from_slice(b"mdat");
    } else {
        header.extend_from_slice(&1u32.to_be_bytes());
        header.extend_from_slice(b"mdat");
        header.extend_from_slice(&mdat_len.to_be_bytes());
    }
    header.resize(total as usize, 0);
    Ok(FaststartHead { header, media })
}

/// Writes to `out` the first `len` bytes of the faststart form of the
/// moov-at-end clip at `path` that goes on with the clip's bytes from
/// `from`: the header, padded, then the clip's media up to `from`. Returns
/// where the clip's media ends.
pub fn faststart_start(path: &Path, from: u64, len: u64, out: &Path) -> Result<u64, RecordError> {
    let [_, mdat, _] = moov_at_end(&mut std::fs::File::open(path)?)?;
    let media = mdat.at + mdat.header..mdat.at + mdat.len;
    if !(media.start..=media.end).contains(&from) || from - media.start > len {
        return Err(RecordError::finalize(
            "the part does not begin inside the media",
        ));
    }
    let head = faststart_head(path, Some(len - (from - media.start)))?;
    let mut src = std::fs::File::open(path)?;
    src.seek(SeekFrom::Start(media.start))?;
    let mut part = head.header;
    part.reserve((from - media.start) as usize);
    src.take(from - media.start).read_to_end(&mut part)?;
    if part.len() as u64 != len {
        return Err(RecordError::finalize("the clip shrank while read"));
    }
    std::fs::write(out, &part)?;
    Ok(media.end)
}

/// Rewrites `path` as faststart in place (through a temporary file beside
/// it, renamed over it); does nothing when it already is.
pub fn make_faststart(path: &Path) -> Result<(), RecordError> {
    if is_faststart(path)? {
        return Ok(());
    }
    let head = faststart_head(path, None)?;
    let tmp = path.with_extension("faststart.tmp");
    let written = (|| -> std::io::Result<()> {
        let mut out = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut out, &head.header)?;
        let mut src = std::fs::File::open(path)?;
        src.seek(SeekFrom::Start(head.media.start))?;
        let want = head.media.end - head.media.start;
        let copied = std::io::copy(&mut src.take(want), &mut out)?;
        if copied != want {
            return Err(std::io::Error::other("the clip shrank while copied"));
        }
        out.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
    Ok(())
}

/// Containers on the way from `moov` to the chunk offset tables.
const CONTAINERS: [&[u8; 4]; 5] = [b"moov", b"trak", b"mdia", b"minf", b"stbl"];

/// Adds `shift` to every chunk offset (`stco`, `co64`) under the box in
/// `data`.
fn move_chunk_offsets(data: &mut [u8], shift: i128) -> Result<(), RecordError> {
    let mut at = 0usize;
    while at + 8 <= data.len() {
        let size =
            u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) as usize;
        let kind = [data[at + 4], data[at + 5], data[at + 6], data[at + 7]];
        let (header, len) = match size {
            1 if at + 16 <= data.len() => {
                let mut l = [0u8; 8];
                l.copy_from_slice(&data[at + 8..at + 16]);
                (
                    16,
                    usize::try_from(u64::from_be_bytes(l)).map_err(|_| bad("box size"))?,
                )
            }
            0 => (8, data.len() - at),
            n => (8, n),
        };
        if len < header || at + len > data.len() {
            return Err(bad("a box of the index runs past its parent"));
        }
        let body = &mut data[at + header..at + len];
        if CONTAINERS.contains(&&kind) {
            move_chunk_offsets(body, shift)?;
        } else if &kind == b"stco" || &kind == b"co64" {
            let wide = &kind == b"co64";
            let width = if wide { 8 } else { 4 };
            if body.len() < 8 {
                return Err(bad("a short chunk offset table"));
            }
            let count = u32::from_be_bytes([body[4], body[5], body[6], body[7]]) as usize;
            if body.len() < 8 + count * width {
                return Err(bad("a short chunk offset table"));
            }
            for i in 0..count {
                let e = &mut body[8 + i * width..8 + (i + 1) * width];
                let old = if wide {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(e);
                    i128::from(u64::from_be_bytes(b))
                } else {
                    i128::from(u32::from_be_bytes([e[0], e[1], e[2], e[3]]))
                };
                let new = old + shift;
                if wide {
                    let v = u64::try_from(new).map_err(|_| bad("a chunk offset out of range"))?;
                    e.copy_from_slice(&v.to_be_bytes());
                } else {
                    let v = u32::try_from(new).map_err(|_| {
                        RecordError::finalize("a chunk offset passes 4 GiB once moved")
                    })?;
                    e.copy_from_slice(&v.to_be_bytes());
                }
            }
        }
        at += len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn stco(offsets: &[u32]) -> Vec<u8> {
        let mut body = vec![0, 0, 0, 0];
        body.extend_from_slice(&(offsets.len() as u32).to_be_bytes());
        for o in offsets {
            body.extend_from_slice(&o.to_be_bytes());
        }
        boxed(b"stco", &body)
    }

    /// ftyp, free, mdat (16 media bytes), moov with one track whose chunks
    /// start at media bytes 0 and 8.
    fn moov_at_end(dir: &Path) -> std::path::PathBuf {
        let ftyp = boxed(b"ftyp", b"isom\0\0\x02\0isomiso2");
        let free = boxed(b"free", b"");
        let media: Vec<u8> = (1..=16).collect();
        let start = (ftyp.len() + free.len() + 8) as u32;
        let mdat = boxed(b"mdat", &media);
        let stbl = boxed(b"stbl", &stco(&[start, start + 8]));
        let trak = boxed(b"trak", &boxed(b"mdia", &boxed(b"minf", &stbl)));
        let moov = boxed(b"moov", &[boxed(b"mvhd", &[0; 12]), trak].concat());
        let path = dir.join("clip.mp4");
        std::fs::write(&path, [ftyp, free, mdat, moov].concat()).unwrap();
        path
    }

    /// The chunk offsets of a faststart file, and the bytes they point to.
    fn chunks(file: &[u8]) -> Vec<u8> {
        let at = file.windows(4).position(|w| w == b"stco").unwrap() + 4;
        let count = u32::from_be_bytes(file[at + 4..at + 8].try_into().unwrap()) as usize;
        (0..count)
            .map(|i| {
                let o =
                    u32::from_be_bytes(file[at + 8 + i * 4..at + 12 + i * 4].try_into().unwrap());
                file[o as usize]
            })
            .collect()
    }

    #[test]
    fn the_index_goes_first_and_still_points_at_the_same_media() {
        let dir = tempfile::tempdir().unwrap();
        let path = moov_at_end(dir.path());
        assert!(!is_faststart(&path).unwrap());
        make_faststart(&path).unwrap();
        assert!(is_faststart(&path).unwrap());
        let file = std::fs::read(&path).unwrap();
        assert_eq!(chunks(&file), [1, 9], "chunk offsets follow the media");
        assert_eq!(&file[file.len() - 16..], (1..=16).collect::<Vec<u8>>());
        make_faststart(&path).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            file,
            "a faststart file is left alone"
        );
    }

    #[test]
    fn a_header_of_a_given_length_pads_the_media_box() {
        let dir = tempfile::tempdir().unwrap();
        let path = moov_at_end(dir.path());
        let head = faststart_head(&path, Some(500)).unwrap();
        assert_eq!(head.header.len(), 500);
        let clip = std::fs::read(&path).unwrap();
        let media = &clip[head.media.start as usize..head.media.end as usize];
        let file = [head.header.clone(), media.to_vec()].concat();
        assert_eq!(chunks(&file), [1, 9]);
        // The media box spans the padding and the media, to the end.
        let at = file.windows(4).position(|w| w == b"mdat").unwrap() - 4;
        let size = u32::from_be_bytes(file[at..at + 4].try_into().unwrap()) as usize;
        assert_eq!(at + size, file.len());
        let shortest = faststart_head(&path, None).unwrap().header.len() as u64;
        assert!(
            faststart_head(&path, Some(shortest - 1)).is_err(),
            "the index must fit"
        );
    }

    #[test]
    fn a_first_part_of_a_given_length_goes_on_with_the_clips_own_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = moov_at_end(dir.path());
        let clip = std::fs::read(&path).unwrap();
        let media_start = faststart_head(&path, None).unwrap().media.start;
        let from = media_start + 4; // four media bytes go in the first part
        let out = dir.path().join("part1");
        let end = faststart_start(&path, from, 400, &out).unwrap();
        let part = std::fs::read(&out).unwrap();
        assert_eq!(part.len(), 400);
        let file = [part, clip[from as usize..end as usize].to_vec()].concat();
        assert_eq!(chunks(&file), [1, 9]);
        assert_eq!(&file[file.len() - 16..], (1..=16).collect::<Vec<u8>>());
        assert!(
            faststart_start(&path, from, 40, &out).is_err(),
            "the index must fit"
        );
    }

    #[test]
    fn an_unfinished_or_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.mp4");
        let mut open = boxed(b"ftyp", b"isom\0\0\x02\0");
        open.extend_from_slice(&0u32.to_be_bytes());
        open.extend_from_slice(b"mdat");
        open.extend_from_slice(&[1, 2, 3]);
        std::fs::write(&path, &open).unwrap();
        assert!(faststart_head(&path, None).is_err());
        std::fs::write(&path, b"not an mp4 at all").unwrap();
        assert!(faststart_head(&path, None).is_err());
    }
}
