"""Files in and out: photos (:mod:`.images`), Gaussians (:mod:`.ply`), videos (:mod:`.video`), meshes (:mod:`.mesh`)."""
