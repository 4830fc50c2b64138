impl :: bincode :: Encode for ProofLeaf
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.key_hash, encoder) ?; :: bincode
        :: Encode :: encode(&self.value_hash, encoder) ?; core :: result ::
        Result :: Ok(())
    }
}