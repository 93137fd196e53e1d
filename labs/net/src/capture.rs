//! Decoding what a packet socket captured on an underlay link: Ethernet → IPv4 → UDP →
//! VXLAN → the inner Ethernet frame → its IPv4 (and UDP) header. Pure parsing, no I/O.

use std::net::Ipv4Addr;

/// An IPv4 packet's header fields the lessons look at, and its UDP ports when it carries UDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// IP protocol number (17 = UDP, 6 = TCP, 1 = ICMP).
    pub protocol: u8,
    /// The packet's total length (header + payload) from the header.
    pub total_len: u16,
    /// The don't-fragment bit.
    pub dont_fragment: bool,
    pub udp: Option<Udp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Udp {
    pub src_port: u16,
    pub dst_port: u16,
    /// The payload, as far as it was captured.
    pub payload: Vec<u8>,
}

/// One VXLAN-encapsulated frame as captured on the underlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanFrame {
    pub outer_dst_mac: [u8; 6],
    pub outer_src_mac: [u8; 6],
    /// The outer IPv4 header (VTEP to VTEP) with its UDP ports.
    pub outer: Ipv4,
    /// VXLAN flags byte: 0x08 means "the VNI is valid" (RFC 7348).
    pub flags: u8,
    pub vni: u32,
    pub inner_dst_mac: [u8; 6],
    pub inner_src_mac: [u8; 6],
    pub inner_ethertype: u16,
    /// The inner IPv4 packet, when the inner frame carries one (not for ARP).
    pub inner: Option<Ipv4>,
    /// The whole captured frame's length on the wire.
    pub frame_len: usize,
}

const ETH_HEADER: usize = 14;
const VXLAN_HEADER: usize = 8;
const UDP_HEADER: usize = 8;
const ETHERTYPE_IPV4: u16 = 0x0800;
const IPPROTO_UDP: u8 = 17;

/// Bytes VXLAN adds to each inner frame on an IPv4 underlay: outer Ethernet 14, IPv4 20, UDP 8,
/// VXLAN 8. The inner frame's own Ethernet header also rides inside, so an inner IP packet of N
/// bytes becomes an outer IP packet of N + 50 bytes — hence MTU 1450 on a 1500 underlay.
pub const VXLAN_OVERHEAD: u32 = 50;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn mac(b: &[u8], at: usize) -> Option<[u8; 6]> {
    b.get(at..at + 6)?.try_into().ok()
}

/// Parses an IPv4 packet starting at `b[0]`.
pub fn parse_ipv4(b: &[u8]) -> Option<(Ipv4, usize)> {
    let version_ihl = *b.first()?;
    if version_ihl >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(version_ihl & 0x0f) * 4;
    if ihl < 20 || b.len() < ihl {
        return None;
    }
    let total_len = be16(b, 2)?;
    let dont_fragment = b[6] & 0x40 != 0;
    let protocol = b[9];
    let src = Ipv4Addr::new(b[12], b[13], b[14], b[15]);
    let dst = Ipv4Addr::new(b[16], b[17], b[18], b[19]);
    let udp = if protocol == IPPROTO_UDP && b.len() >= ihl + UDP_HEADER {
        let end = usize::from(total_len).min(b.len());
        Some(Udp {
            src_port: be16(b, ihl)?,
            dst_port: be16(b, ihl + 2)?,
            payload: b.get(ihl + UDP_HEADER..end).unwrap_or_default().to_vec(),
        })
    } else {
        None
    };
    Some((Ipv4 { src, dst, protocol, total_len, dont_fragment, udp }, ihl))
}

/// Decodes `frame` (as captured, starting with the Ethernet header) if it is IPv4/UDP to
/// `vxlan_port` carrying a VXLAN header; `None` for anything else (ARP on the underlay, …).
pub fn decode_vxlan(frame: &[u8], vxlan_port: u16) -> Option<VxlanFrame> {
    if be16(frame, 12)? != ETHERTYPE_IPV4 {
        return None;
    }
    let (outer, ihl) = parse_ipv4(&frame[ETH_HEADER..])?;
    if outer.udp.as_ref()?.dst_port != vxlan_port {
        return None;
    }
    let vx = ETH_HEADER + ihl + UDP_HEADER;
    let header = frame.get(vx..vx + VXLAN_HEADER)?;
    let flags = header[0];
    let vni = u32::from_be_bytes([0, header[4], header[5], header[6]]);
    let inner_eth = vx + VXLAN_HEADER;
    let inner_ethertype = be16(frame, inner_eth + 12)?;
    let inner = if inner_ethertype == ETHERTYPE_IPV4 {
        frame.get(inner_eth + ETH_HEADER..).and_then(parse_ipv4).map(|(ip, _)| ip)
    } else {
        None
    };
    Some(VxlanFrame {
        outer_dst_mac: mac(frame, 0)?,
        outer_src_mac: mac(frame, 6)?,
        outer,
        flags,
        vni,
        inner_dst_mac: mac(frame, inner_eth)?,
        inner_src_mac: mac(frame, inner_eth + 6)?,
        inner_ethertype,
        inner,
        frame_len: frame.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame built by hand as the kernel would send it: VNI 42, inner UDP 10.214.0.2 → .3.
    fn sample() -> Vec<u8> {
        let payload = b"hi";
        let inner_ip_len = 20 + 8 + payload.len();
        let mut inner_ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 214, 0, 2, 10, 214, 0, 3];
        inner_ip[2..4].copy_from_slice(&(inner_ip_len as u16).to_be_bytes());
        inner_ip.extend_from_slice(&[0x9c, 0x40, 0x27, 0x0f, 0, 10, 0, 0]);
        inner_ip.extend_from_slice(payload);
        let mut inner = vec![2, 0x42, 10, 214, 0, 3, 2, 0x42, 10, 214, 0, 2, 0x08, 0x00];
        inner.extend_from_slice(&inner_ip);
        let vxlan = [0x08, 0, 0, 0, 0, 0, 42, 0];
        let outer_len = 20 + 8 + 8 + inner.len();
        let mut frame = vec![0xaa; 6];
        frame.extend_from_slice(&[0xbb; 6]);
        frame.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
        frame[16..18].copy_from_slice(&(outer_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0xd4, 0x31, 0x12, 0xb5]);
        frame.extend_from_slice(&((outer_len - 20) as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&vxlan);
        frame.extend_from_slice(&inner);
        frame
    }

    #[test]
    fn a_vxlan_frame_decodes_to_its_vni_and_inner_addresses() {
        let f = decode_vxlan(&sample(), 4789).expect("decodes");
        assert_eq!(f.vni, 42);
        assert_eq!(f.flags, 0x08);
        assert_eq!(f.outer.src, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(f.outer.udp.as_ref().unwrap().dst_port, 4789);
        assert_eq!(f.inner_src_mac, [2, 0x42, 10, 214, 0, 2]);
        let inner = f.inner.expect("inner IPv4");
        assert_eq!((inner.src, inner.dst), (Ipv4Addr::new(10, 214, 0, 2), Ipv4Addr::new(10, 214, 0, 3)));
        assert!(inner.dont_fragment);
        assert_eq!(inner.udp.unwrap().payload, b"hi");
        assert_eq!(u32::from(f.outer.total_len), u32::from(inner.total_len) + VXLAN_OVERHEAD);
    }

    #[test]
    fn other_ports_and_truncated_frames_are_not_vxlan() {
        assert!(decode_vxlan(&sample(), 8472).is_none());
        assert!(decode_vxlan(&sample()[..40], 4789).is_none());
        assert!(decode_vxlan(&[0u8; 10], 4789).is_none());
    }
}
