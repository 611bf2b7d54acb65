//! The client's check of a server's embed reply: byte 0 picks how many
//! texts were asked for, the rest is split at the first NUL into the JSON
//! head and the matrix frame.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let cut = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let (head, matrix) = rest.split_at(cut);
    let matrix = matrix.get(1..).unwrap_or_default();
    let Ok(h) = serde_json::from_slice::<leann::embed::remote::Reply>(head) else {
        return;
    };
    let _ = leann::embed::remote::check_reply("tcp://fuzz", "m", 4, n as usize, &h, matrix);
});
