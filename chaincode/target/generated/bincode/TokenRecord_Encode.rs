impl :: bincode :: Encode for TokenRecord
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.code_hash, encoder) ?; :: bincode
        :: Encode :: encode(&self.sealed, encoder) ?; :: bincode :: Encode ::
        encode(&self.status, encoder) ?; :: bincode :: Encode ::
        encode(&self.owner, encoder) ?; :: bincode :: Encode ::
        encode(&self.claim, encoder) ?; core :: result :: Result :: Ok(())
    }
}