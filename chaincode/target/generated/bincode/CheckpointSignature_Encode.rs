impl :: bincode :: Encode for CheckpointSignature
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.node_id, encoder) ?; :: bincode
        :: Encode :: encode(&self.signature, encoder) ?; core :: result ::
        Result :: Ok(())
    }
}