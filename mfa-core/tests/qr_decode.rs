//! The QR codes shown at enrolment decode, with an independent decoder
//! (rqrr, from the PNG pixels), back to exactly the otpauth URI. (The SVG
//! is only checked to be a drawing: rqrr reads pixels, not vectors.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

fn decode_png(png_bytes: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "exactly one QR code in the PNG");
    let (_meta, content) = grids[0].decode().unwrap();
    content
}

#[tokio::test]
async fn the_png_qr_code_decodes_to_the_otpauth_uri() {
    let f = fx();
    for (i, account) in ["jo@example.org", "Jo Bloggs (Flat 3)", "ünïcode@example.org"]
        .iter()
        .enumerate()
    {
        let u = user(&format!("qr-{i}"));
        let e = f
            .mfa
            .begin_enrollment(
                &u,
                mfa_core::EnrollRequest::Totp {
                    label: "Phone".into(),
                    account_name: (*account).into(),
                },
                &f.password_only(),
            )
            .await
            .unwrap();
        let mfa_core::Enrollment::Totp(t) = e else {
            panic!("not a TOTP enrolment")
        };
        let decoded = decode_png(t.qr_png.expose());
        assert_eq!(decoded, t.otpauth_uri.expose(), "QR content differs from the URI");
        assert!(decoded.starts_with("otpauth://totp/Alliance%20Homes:"));
        assert!(decoded.contains(&format!("secret={}", t.secret_base32.expose())));
        let svg = t.qr_svg.expose();
        assert!(
            svg.contains("<svg") && svg.contains("<path"),
            "SVG has no drawing"
        );
    }
}
