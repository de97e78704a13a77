//! Helpers for `tests/opus.rs`: an Ogg page parser with its own CRC, a `/stream.opus` client
//! that reads the chunked body as it comes, the page checks, and ffprobe/ffmpeg runs.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::daemon_support::TIMEOUT;

/// 48 kHz samples per channel in one 100 ms page.
pub const PAGE_SAMPLES: u64 = 4_800;

/// One Ogg page as parsed here.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub flags: u8,
    pub granule: u64,
    pub serial: u32,
    pub sequence: u32,
    pub packets: Vec<Vec<u8>>,
    pub bytes: Vec<u8>,
}

/// CRC-32 as Ogg defines it (polynomial 0x04C11DB7, not reflected, initial value 0), over
/// the page with its checksum field zeroed: written out here, not taken from a crate.
pub fn ogg_crc(page: &[u8]) -> u32 {
    let mut crc = 0u32;
    for (i, &byte) in page.iter().enumerate() {
        let byte = if (22..26).contains(&i) { 0 } else { byte };
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Every whole page in `data`, each checked: capture pattern, version 0, checksum, and no
/// packet continued across pages (the stream never needs it).
pub fn parse_pages(mut data: &[u8]) -> Vec<Page> {
    let mut pages = Vec::new();
    while data.len() >= 27 {
        assert_eq!(&data[0..4], b"OggS", "page {} capture pattern", pages.len());
        assert_eq!(data[4], 0, "stream structure version");
        let segments = usize::from(data[26]);
        if data.len() < 27 + segments {
            break;
        }
        let lacing = &data[27..27 + segments];
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let len = 27 + segments + body_len;
        if data.len() < len {
            break;
        }
        let bytes = data[..len].to_vec();
        let stored = u32::from_le_bytes(bytes[22..26].try_into().unwrap());
        assert_eq!(stored, ogg_crc(&bytes), "page {} checksum", pages.len());
        let mut packets = Vec::new();
        let mut packet = Vec::new();
        let mut at = 27 + segments;
        for &l in lacing {
            packet.extend_from_slice(&bytes[at..at + usize::from(l)]);
            at += usize::from(l);
            if l < 255 {
                packets.push(std::mem::take(&mut packet));
            }
        }
        assert!(packet.is_empty(), "no packet continues on the next page");
        pages.push(Page {
            flags: bytes[5],
            granule: u64::from_le_bytes(bytes[6..14].try_into().unwrap()),
            serial: u32::from_le_bytes(bytes[14..18].try_into().unwrap()),
            sequence: u32::from_le_bytes(bytes[18..22].try_into().unwrap()),
            packets,
            bytes,
        });
        data = &data[len..];
    }
    pages
}

/// An open `GET /stream.opus`: reads the body (chunked for HTTP/1.1) as it comes.
pub struct OggPull {
    socket: TcpStream,
    raw: Vec<u8>,
    /// Whether the response head was read (`raw` holds body from then on).
    in_body: bool,
    /// Whether the body is chunked (an HTTP/1.1 request) or bare (HTTP/1.0).
    chunked: bool,
    body: Vec<u8>,
}

impl OggPull {
    /// An HTTP/1.1 listener.
    pub async fn start(addr: SocketAddr) -> OggPull {
        OggPull::start_with(addr, true).await
    }

    /// An HTTP/1.1 listener (`http_11`) or an HTTP/1.0 one.
    pub async fn start_with(addr: SocketAddr, http_11: bool) -> OggPull {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        let version = if http_11 { "1.1" } else { "1.0" };
        let request = format!("GET /stream.opus HTTP/{version}\r\nHost: x\r\n\r\n");
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut pull = OggPull {
            socket,
            raw: Vec::new(),
            in_body: false,
            chunked: http_11,
            body: Vec::new(),
        };
        let head_end = loop {
            if let Some(end) = pull.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            pull.read_more().await;
        };
        let head = String::from_utf8_lossy(&pull.raw[..head_end]).to_ascii_lowercase();
        assert!(head.starts_with(&format!("http/{version} 200")), "{head}");
        assert!(head.contains("content-type: audio/ogg"), "{head}");
        assert_eq!(
            head.contains("transfer-encoding: chunked"),
            http_11,
            "{head}"
        );
        pull.raw.drain(..head_end + 4);
        pull.in_body = true;
        pull.take_chunks();
        pull
    }

    async fn read_more(&mut self) {
        let mut buffer = [0u8; 16 << 10];
        let n = tokio::time::timeout(TIMEOUT, self.socket.read(&mut buffer))
            .await
            .expect("the stream keeps coming")
            .unwrap();
        assert!(n > 0, "the server ended the stream");
        self.raw.extend_from_slice(&buffer[..n]);
        if self.in_body {
            self.take_chunks();
        }
    }

    /// Moves every whole chunk of the chunked encoding (or all of a bare body) from `raw`
    /// into the body.
    fn take_chunks(&mut self) {
        if !self.chunked {
            self.body.append(&mut self.raw);
            return;
        }
        while let Some(end) = self.raw.windows(2).position(|w| w == b"\r\n") {
            let size_text = std::str::from_utf8(&self.raw[..end]).unwrap().trim();
            let size = usize::from_str_radix(size_text, 16).unwrap();
            if self.raw.len() < end + 2 + size + 2 {
                break;
            }
            self.body
                .extend_from_slice(&self.raw[end + 2..end + 2 + size]);
            self.raw.drain(..end + 2 + size + 2);
        }
    }

    /// Reads until the body holds at least `count` whole pages; returns them.
    pub async fn pages(&mut self, count: usize) -> Vec<Page> {
        loop {
            let pages = parse_pages(&self.body);
            if pages.len() >= count {
                return pages;
            }
            self.read_more().await;
        }
    }
}

/// The stream's two header pages, checked; returns the pre-skip.
pub fn check_headers(pages: &[Page]) -> u16 {
    let (head, tags) = (&pages[0], &pages[1]);
    assert_eq!(
        head.flags, 0x02,
        "the first page begins the stream, nothing else"
    );
    assert_eq!((head.sequence, tags.sequence), (0, 1));
    assert_eq!((head.granule, tags.granule), (0, 0));
    assert_eq!(head.packets.len(), 1);
    let opus_head = &head.packets[0];
    assert_eq!(&opus_head[0..8], b"OpusHead");
    assert_eq!(opus_head[8], 1, "version");
    assert_eq!(opus_head[9], 2, "stereo");
    assert_eq!(opus_head[18], 0, "mapping family 0");
    assert_eq!(tags.flags, 0);
    assert_eq!(&tags.packets[0][0..8], b"OpusTags");
    assert_eq!(tags.serial, head.serial);
    u16::from_le_bytes([opus_head[10], opus_head[11]])
}

/// The audio pages (after the headers), checked: one serial, 5 packets each, neither BOS
/// nor EOS, page sequence +1 and granule +4,800 from one page to the next (no gap).
pub fn check_audio(pages: &[Page]) {
    let serial = pages[0].serial;
    for pair in pages[2..].windows(2) {
        assert_eq!(pair[1].sequence, pair[0].sequence + 1, "page sequence");
        assert_eq!(
            pair[1].granule,
            pair[0].granule + PAGE_SAMPLES,
            "granule gap"
        );
    }
    for page in &pages[2..] {
        assert_eq!(page.serial, serial);
        assert_eq!(page.flags, 0, "page {} flags", page.sequence);
        assert_eq!(page.packets.len(), 5, "five 20 ms packets per page");
        assert_eq!(page.granule % PAGE_SAMPLES, 0);
    }
}

pub fn run(command: &mut Command) -> (bool, String, String) {
    let output = command
        .output()
        .expect("ffmpeg/ffprobe run (apt-get install ffmpeg)");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// ffprobe's view of the file, then ffmpeg's decode of it (no error, no warning): the
/// number of 48 kHz stereo samples per channel it gives.
pub fn probe_and_decode(file: &Path) -> usize {
    let (ok, out, err) = run(Command::new("ffprobe")
        .args(["-v", "error"])
        .args([
            "-show_entries",
            "stream=codec_name,sample_rate,channels",
            "-of",
            "default=noprint_wrappers=1",
        ])
        .arg(file));
    assert!(ok && err.is_empty(), "ffprobe: {err}");
    assert_eq!(out, "codec_name=opus\nsample_rate=48000\nchannels=2\n");
    let decoded = file.with_extension("pcm");
    let (ok, _, err) = run(Command::new("ffmpeg")
        .args(["-nostdin", "-v", "warning", "-y", "-i"])
        .arg(file)
        .args(["-f", "s16le", "-ac", "2", "-ar", "48000"])
        .arg(&decoded));
    assert!(ok && err.is_empty(), "ffmpeg decode: {err}");
    std::fs::metadata(&decoded).unwrap().len() as usize / 4
}

/// One `/ws?encoding=opus` audio frame, parsed by the documented layout.
pub fn parse_opus_frame(frame: &[u8]) -> (u64, u64, Vec<Vec<u8>>) {
    let sequence = u64::from_le_bytes(frame[0..8].try_into().unwrap());
    let timestamp = u64::from_le_bytes(frame[8..16].try_into().unwrap());
    let count = usize::from(frame[16]);
    let mut packets = Vec::new();
    let mut at = 17;
    for _ in 0..count {
        let len = usize::from(u16::from_le_bytes([frame[at], frame[at + 1]]));
        packets.push(frame[at + 2..at + 2 + len].to_vec());
        at += 2 + len;
    }
    assert_eq!(at, frame.len(), "nothing after the last packet");
    (sequence, timestamp, packets)
}

/// The integrated loudness (LUFS) ffmpeg's `ebur128` filter gives `file`.
pub fn integrated_loudness(file: &Path) -> f64 {
    let (ok, _, err) = run(Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-nostats", "-i"])
        .arg(file)
        .args(["-af", "ebur128", "-f", "null", "-"]));
    assert!(ok, "ffmpeg ebur128: {err}");
    let summary = &err[err.rfind("Summary:").expect("ebur128 summary")..];
    summary
        .lines()
        .find_map(|line| line.trim().strip_prefix("I:"))
        .and_then(|value| value.trim().trim_end_matches("LUFS").trim().parse().ok())
        .unwrap_or_else(|| panic!("no integrated loudness in {summary}"))
}
