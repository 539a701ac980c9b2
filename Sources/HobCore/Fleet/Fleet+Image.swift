// Which base image a sprite's disk came from (`environment_version`): a new image version is a new
// name, and sprites made before it keep the disk, and so the version, they started with.
extension Fleet {
    /// The image under the sprite's v0 (`images/<name>`). A fork's v0 is a snapshot of its own
    /// (`sprites/<id>/ckpt/v0`) that does not say which image is under it: a fork, like a sprite
    /// whose v0 was deleted, reports the current image.
    func imageName(of spriteID: String) -> String {
        guard let v0 = sprites[spriteID]?.checkpoints.first(where: { $0.id == "v0" }) else { return image }
        let parts = v0.volume.split(separator: "/")
        return parts.count == 2 && parts[0] == "images" ? String(parts[1]) : image
    }
}
