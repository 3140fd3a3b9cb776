//! A voice note's facts, read from its Ogg container without decoding audio:
//! that it is Opus (WhatsApp plays nothing else as a voice note), how long it
//! plays, and the waveform WhatsApp draws under it.
//!
//! The waveform is 64 values of 0–100, one per equal slice of the note: the
//! mean size of the slice's Opus packets, scaled so the largest slice is 100.
//! Opus is variable-bitrate, so a packet's size follows how much sound it
//! holds (silence is coded in a few bytes), which is what the bars show.

use std::{
    io::{BufReader, Read},
    path::Path,
};

/// How many bars WhatsApp draws.
pub const WAVEFORM_BARS: usize = 64;

/// Opus counts its granule positions at 48 kHz whatever the input rate.
const OPUS_RATE: u64 = 48_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voice {
    /// Rounded up; at least 1.
    pub seconds: u32,
    pub waveform: Vec<u8>,
}

/// What an audio file is, by its first bytes, for telling a caller what was
/// sent instead of Ogg/Opus. `None`: no audio format known here.
pub fn audio_type(head: &[u8]) -> Option<&'static str> {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if at(0, b"OggS") {
        Some("audio/ogg")
    } else if at(0, b"ID3") || (head.len() >= 2 && head[0] == 0xFF && matches!(head[1] & 0xF6, 0xF2 | 0xF4)) {
        Some("audio/mpeg")
    } else if head.len() >= 2 && head[0] == 0xFF && head[1] & 0xF6 == 0xF0 {
        Some("audio/aac")
    } else if at(4, b"ftypM4A") || at(4, b"ftypM4B") || at(4, b"ftypmp42") || at(4, b"ftypisom") {
        Some("audio/mp4")
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        Some("audio/wav")
    } else if at(0, b"#!AMR") {
        Some("audio/amr")
    } else if at(0, b"fLaC") {
        Some("audio/flac")
    } else {
        None
    }
}

/// What people call the format of [`audio_type`]'s answer.
pub fn format_name(mimetype: &str) -> &'static str {
    match mimetype {
        "audio/ogg" => "Ogg",
        "audio/mpeg" => "MP3",
        "audio/aac" => "AAC",
        "audio/mp4" => "MP4/M4A",
        "audio/wav" => "WAV",
        "audio/amr" => "AMR",
        "audio/flac" => "FLAC",
        _ => "unknown",
    }
}

/// The codec of an Ogg stream's first packet, for the refusal of one that is not Opus.
fn ogg_codec(packet: &[u8]) -> &'static str {
    if packet.starts_with(b"OpusHead") {
        "Opus"
    } else if packet.starts_with(b"\x01vorbis") {
        "Vorbis"
    } else if packet.starts_with(b"Speex") {
        "Speex"
    } else if packet.starts_with(b"\x7fFLAC") {
        "FLAC"
    } else {
        "an unknown codec"
    }
}

/// One Ogg page's header: the stream it belongs to, its granule position and
/// its segment table.
struct Page {
    serial: u32,
    granule: u64,
    segments: Vec<u8>,
}

fn read_page(input: &mut impl Read) -> Result<Option<Page>, String> {
    let mut header = [0u8; 27];
    match input.read_exact(&mut header[..1]) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.to_string()),
    }
    let malformed = || "is not a well-formed Ogg file".to_owned();
    input.read_exact(&mut header[1..5]).map_err(|_| malformed())?;
    if &header[..4] != b"OggS" || header[4] != 0 {
        return Err(malformed());
    }
    input.read_exact(&mut header[5..]).map_err(|_| "the file ends inside an Ogg page".to_owned())?;
    let mut segments = vec![0u8; header[26] as usize];
    input.read_exact(&mut segments).map_err(|_| "the file ends inside an Ogg page".to_owned())?;
    Ok(Some(Page {
        serial: u32::from_le_bytes(header[14..18].try_into().expect("4 bytes")),
        granule: u64::from_le_bytes(header[6..14].try_into().expect("8 bytes")),
        segments,
    }))
}

/// Reads the voice note at `path` (Ogg/Opus), a page at a time: memory stays
/// one page and one number per packet. `Err` says, for the caller, what is wrong.
pub fn read(path: &Path) -> Result<Voice, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read the file: {e}"))?;
    read_from(BufReader::new(file))
}

fn read_from(mut input: impl Read) -> Result<Voice, String> {
    let mut serial = None;
    let mut pre_skip = 0u64;
    let mut last_granule = None;
    // Packets of the first stream: 0 the Opus header, 1 the tags, then audio.
    let mut packet_index = 0usize;
    let mut header: Vec<u8> = Vec::new();
    let mut sizes: Vec<u32> = Vec::new();
    let mut page_data = Vec::new();
    while let Some(page) = read_page(&mut input)? {
        let length: usize = page.segments.iter().map(|&s| s as usize).sum();
        page_data.resize(length, 0);
        input.read_exact(&mut page_data).map_err(|_| "the file ends inside an Ogg page".to_owned())?;
        if page.serial != *serial.get_or_insert(page.serial) {
            continue; // another logical stream (chained or multiplexed): not the voice
        }
        if page.granule != u64::MAX {
            last_granule = Some(page.granule);
        }
        let mut offset = 0;
        for &segment in &page.segments {
            let bytes = &page_data[offset..offset + segment as usize];
            offset += segment as usize;
            match packet_index {
                0 if header.len() < 4096 => header.extend_from_slice(bytes),
                0 => return Err("its first Ogg packet is too long for an Opus header".into()),
                1 => {} // the tags
                n => bump(&mut sizes, n, segment as u32),
            }
            if segment == 255 {
                continue; // the packet goes on in the next segment
            }
            if packet_index == 0 {
                let codec = ogg_codec(&header);
                if codec != "Opus" {
                    return Err(format!("must be Ogg/Opus; this Ogg file holds {codec}"));
                }
                if header.len() < 19 {
                    return Err("its Opus header is cut short".into());
                }
                pre_skip = u16::from_le_bytes([header[10], header[11]]) as u64;
            }
            packet_index += 1;
        }
    }
    if packet_index == 0 {
        return Err("is not an Ogg file with any audio".into());
    }
    let samples = last_granule.unwrap_or(0).saturating_sub(pre_skip);
    if sizes.is_empty() || samples == 0 {
        return Err("holds no audio".into());
    }
    let seconds = samples.div_ceil(OPUS_RATE).clamp(1, u32::MAX as u64) as u32;
    Ok(Voice { seconds, waveform: waveform(&sizes) })
}

/// Adds `bytes` to the size of audio packet `index` (packet 2 is audio's first).
fn bump(sizes: &mut Vec<u32>, index: usize, bytes: u32) {
    let slot = index - 2;
    if sizes.len() <= slot {
        sizes.resize(slot + 1, 0);
    }
    sizes[slot] = sizes[slot].saturating_add(bytes);
}

/// [`WAVEFORM_BARS`] values of 0–100 from the packets' sizes (see the module).
fn waveform(sizes: &[u32]) -> Vec<u8> {
    let bars: Vec<f64> = (0..WAVEFORM_BARS)
        .map(|bar| {
            let start = bar * sizes.len() / WAVEFORM_BARS;
            let end = ((bar + 1) * sizes.len() / WAVEFORM_BARS).max(start + 1).min(sizes.len());
            let slice = &sizes[start.min(sizes.len() - 1)..end];
            slice.iter().map(|&s| s as f64).sum::<f64>() / slice.len() as f64
        })
        .collect();
    let top = bars.iter().cloned().fold(0.0, f64::max);
    bars.iter().map(|b| if top > 0.0 { (b / top * 100.0).round() as u8 } else { 0 }).collect()
}

/// An Ogg/Opus file of `packets` (audio packet sizes), 20 ms each, for tests
/// and benches: real Ogg framing and Opus headers, packets of filler bytes.
pub fn sample(packets: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut head = b"OpusHead".to_vec();
    head.extend_from_slice(&[1, 1]); // version, one channel
    head.extend_from_slice(&312u16.to_le_bytes()); // pre-skip
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&[0, 0, 0]); // gain, mapping family
    let tags = b"OpusTags\x06\x00\x00\x00wagate\x00\x00\x00\x00".to_vec();
    let mut sequence = 0u32;
    let mut page = |out: &mut Vec<u8>, flags: u8, granule: u64, packets: &[Vec<u8>]| {
        let mut segments = Vec::new();
        for p in packets {
            segments.extend(std::iter::repeat_n(255u8, p.len() / 255));
            segments.push((p.len() % 255) as u8);
        }
        out.extend_from_slice(b"OggS\x00");
        out.push(flags);
        out.extend_from_slice(&granule.to_le_bytes());
        out.extend_from_slice(&0x5741_4741u32.to_le_bytes());
        out.extend_from_slice(&sequence.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // CRC (not checked by the reader)
        out.push(segments.len() as u8);
        out.extend_from_slice(&segments);
        for p in packets {
            out.extend_from_slice(p);
        }
        sequence += 1;
    };
    page(&mut out, 2, 0, &[head]);
    page(&mut out, 0, 0, &[tags]);
    let mut granule = 312u64;
    let chunks: Vec<&[usize]> = packets.chunks(50).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        granule += 960 * chunk.len() as u64;
        let bodies: Vec<Vec<u8>> = chunk.iter().map(|&n| vec![0xA5; n.max(1)]).collect();
        let flags = if i + 1 == chunks.len() { 4 } else { 0 };
        page(&mut out, flags, granule, &bodies);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_length_and_waveform_of_an_opus_note() {
        // Three seconds: a second of silence, a loud second, a quiet one.
        let mut packets = vec![3usize; 50];
        packets.extend(vec![120usize; 50]);
        packets.extend(vec![40usize; 50]);
        let voice = read_from(&sample(&packets)[..]).unwrap();
        assert_eq!(voice.seconds, 3);
        assert_eq!(voice.waveform.len(), WAVEFORM_BARS);
        assert_eq!(voice.waveform[0], 3);
        assert_eq!(*voice.waveform.iter().max().unwrap(), 100);
        assert_eq!(voice.waveform[32], 100);
        assert_eq!(voice.waveform[63], 33);
    }

    #[test]
    fn packets_longer_than_a_segment_count_whole() {
        let voice = read_from(&sample(&[600, 300, 600, 300])[..]).unwrap();
        assert_eq!(voice.seconds, 1);
        assert_eq!(voice.waveform[0], 100);
        assert_eq!(voice.waveform[63], 50);
    }

    #[test]
    fn refuses_what_is_not_opus() {
        let mut vorbis = sample(&[10; 10]);
        vorbis[28..36].copy_from_slice(b"\x01vorbisX");
        assert_eq!(read_from(&vorbis[..]).unwrap_err(), "must be Ogg/Opus; this Ogg file holds Vorbis");
        assert_eq!(read_from(&b"ID3\x03rest of an mp3"[..]).unwrap_err(), "is not a well-formed Ogg file");
        assert_eq!(read_from(&sample(&[])[..]).unwrap_err(), "holds no audio");
        let cut = sample(&[10; 10]);
        assert_eq!(read_from(&cut[..cut.len() - 5]).unwrap_err(), "the file ends inside an Ogg page");
    }

    #[test]
    fn tells_audio_formats_apart() {
        assert_eq!(audio_type(b"OggS\x00\x02"), Some("audio/ogg"));
        assert_eq!(audio_type(b"ID3\x04\x00"), Some("audio/mpeg"));
        assert_eq!(audio_type(&[0xFF, 0xFB, 0x90]), Some("audio/mpeg"));
        assert_eq!(audio_type(&[0xFF, 0xF1, 0x50]), Some("audio/aac"));
        assert_eq!(audio_type(b"\x00\x00\x00\x20ftypM4A "), Some("audio/mp4"));
        assert_eq!(audio_type(b"RIFF\x24\x00\x00\x00WAVEfmt "), Some("audio/wav"));
        assert_eq!(audio_type(b"#!AMR\n"), Some("audio/amr"));
        assert_eq!(audio_type(b"%PDF-1.4"), None);
    }
}
