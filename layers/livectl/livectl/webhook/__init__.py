"""The TRTC callback receiver: verify, interpret, record, publish."""
