"""Image stamps, the one way: as float seconds, and as an exact key to match messages by stamp."""


def stamp_to_seconds(stamp):
    """Return builtin_interfaces/Time (or a rosbags-deserialized one) as float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def stamp_key(header):
    """Return (sec, nanosec) of a header's stamp: equal for messages of the same image."""
    return (header.stamp.sec, header.stamp.nanosec)
